# The architectural fuzzer (tests/target/reference_cases.py) on the AMD SVM
# back end under QEMU TCG: mpvisor's digests against plain QEMU TCG's. One
# boot of each. REF_N keeps the module near a minute on an idle machine
# (see the figures it prints).
import pytest

from conftest import back_end
from reference_cases import *  # noqa: F401,F403 (the test function)


@pytest.fixture(scope="module")
def REF_N():
    return 2000


@pytest.fixture(scope="module")
def back_end_name():
    return "AMD SVM, QEMU TCG"


@pytest.fixture(scope="module")
def repl():
    with back_end("amd") as r:
        yield r
