# Fuzzing with generated guests (tests/target/fuzz_cases.py) on the Intel VMX
# back end under Bochs corei7_skylake_x (the VMX-preemption timer bounds each
# guest's time). One boot. Fewer guests than QEMU: a VM costs ~0.3 s of wall
# time here, and the module must stay well under 90 s on an idle machine.
import pytest

from conftest import back_end
from fuzz_cases import *  # noqa: F401,F403 (the test function)


@pytest.fixture(scope="module")
def FUZZ_N():
    return 300


@pytest.fixture(scope="module")
def repl():
    with back_end("intel") as r:
        yield r
