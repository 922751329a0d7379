# Guest isolation (tests/target/isolation_cases.py) on the Intel VMX back end
# with EPT, under Bochs (cpu: model=corei7_skylake_x). One boot.
import pytest

from conftest import ISO, booted, image
from isolation_cases import *  # noqa: F401,F403 (the test functions)


@pytest.fixture(scope="module")
def repl():
    with booted("bochs", iso=image(ISO), model="corei7_skylake_x") as r:
        assert r.eval("__import__('hv').vendor()") == "intel"
        r.timeout = 300         # Bochs on a busy 2-core machine: minutes, not seconds
        yield r
