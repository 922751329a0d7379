# Frame and heap accounting (tests/target/resources_cases.py) on the AMD SVM
# back end under QEMU TCG: 200 VMs in a row. One boot.
import pytest

from conftest import back_end
from resources_cases import *  # noqa: F401,F403 (the test functions)


@pytest.fixture(scope="module")
def VMS():
    return 200


@pytest.fixture(scope="module")
def repl():
    with back_end("amd") as r:
        yield r
