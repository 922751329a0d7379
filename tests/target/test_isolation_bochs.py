# Guest isolation (tests/target/isolation_cases.py) on the Intel VMX back end
# with EPT, under Bochs (cpu: model=corei7_skylake_x). One boot.
import pytest

from conftest import back_end
from isolation_cases import *  # noqa: F401,F403 (the test functions)


@pytest.fixture(scope="module")
def repl():
    with back_end("intel") as r:
        yield r
