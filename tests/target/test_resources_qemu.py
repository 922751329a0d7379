# Frame and heap accounting (tests/target/resources_cases.py) on the AMD SVM
# back end under QEMU TCG: 200 VMs in a row. One boot.
import pytest

from conftest import ELF, booted, image
from resources_cases import *  # noqa: F401,F403 (the test functions)


@pytest.fixture(scope="module")
def VMS():
    return 200


@pytest.fixture(scope="module")
def repl():
    with booted("qemu", kernel=image(ELF)) as r:
        assert r.eval("__import__('hv').vendor()") == "amd"
        r.timeout = 60          # a busy machine: well beyond the seconds each call takes
        yield r
