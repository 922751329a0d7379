# The architectural fuzzer (tests/target/reference_cases.py) on the Intel VMX
# back end under Bochs corei7_skylake_x: the guests run on Bochs' CPU model,
# so this compares Bochs with plain QEMU TCG as well as checking mpvisor.
# Fewer guests than QEMU: a VM costs far more wall time here.
import pytest

from conftest import back_end
from reference_cases import *  # noqa: F401,F403 (the test function)


@pytest.fixture(scope="module")
def REF_N():
    return 150


@pytest.fixture(scope="module")
def back_end_name():
    return "Intel VMX, Bochs"


@pytest.fixture(scope="module")
def repl():
    with back_end("intel") as r:
        yield r
