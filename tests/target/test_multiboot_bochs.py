# The multiboot guests and loader (tests/target/multiboot_cases.py) on the
# Intel VMX back end under Bochs (cpu: model=corei7_skylake_x). One boot.
import pytest

from conftest import back_end
from multiboot_cases import *  # noqa: F401,F403 (the test functions)


@pytest.fixture(scope="module")
def repl():
    with back_end("intel", "hv, hw, demos, guests") as r:
        yield r
