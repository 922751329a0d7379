# The PC's devices (tests/target/pc_cases.py, tests/guests/pcdev.asm) on the
# AMD SVM back end under QEMU TCG. One boot.
import pytest

from conftest import back_end
from pc_cases import *  # noqa: F401,F403 (the test functions)
from pc_cases import SETUP


@pytest.fixture(scope="module")
def repl():
    with back_end("amd", setup=SETUP) as r:
        yield r


@pytest.fixture
def target():
    return dict(name="qemu", timeout=300)
