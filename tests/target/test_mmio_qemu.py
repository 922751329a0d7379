# MMIO and string I/O emulation (tests/target/mmio_cases.py) on the AMD SVM
# back end under QEMU TCG (-cpu qemu64,+svm,+npt: no NRIPS, no decode
# assists, no IOIO address-size bits, so every instruction is decoded from
# guest memory). One boot.
import pytest

from conftest import back_end
from mmio_cases import *  # noqa: F401,F403 (the test functions)
from mmio_cases import SETUP


@pytest.fixture(scope="module")
def repl():
    with back_end("amd", setup=SETUP) as r:
        yield r


@pytest.fixture
def target():
    return dict(name="qemu", timeout=120, loops=20000)
