# Frame and heap accounting (tests/target/resources_cases.py) on the Intel
# VMX back end under Bochs corei7_skylake_x. One boot. Fewer VMs in a row
# than QEMU's 200: each VM costs ~0.3 s of wall time here (Bochs runs the
# Python VMM at ~10 M instructions/s; 200 would add a minute), so 40 keep
# the module near 30 s. The frame count is exact either way and the heap
# bound the same.
import pytest

from conftest import back_end
from resources_cases import *  # noqa: F401,F403 (the test functions)


@pytest.fixture(scope="module")
def VMS():
    return 40


@pytest.fixture(scope="module")
def repl():
    with back_end("intel") as r:
        yield r
