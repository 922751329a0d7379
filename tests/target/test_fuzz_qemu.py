# Fuzzing with generated guests (tests/target/fuzz_cases.py) on the AMD SVM
# back end under QEMU TCG. One boot. FUZZ_N keeps the module well under 90 s
# of wall time on an idle machine (see the figure it prints).
import pytest

from conftest import back_end
from fuzz_cases import *  # noqa: F401,F403 (the test function)


@pytest.fixture(scope="module")
def FUZZ_N():
    return 1500


@pytest.fixture(scope="module")
def repl():
    with back_end("amd") as r:
        yield r
