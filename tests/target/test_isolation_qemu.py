# Guest isolation (tests/target/isolation_cases.py) on the AMD SVM back end
# with nested paging, under QEMU TCG (-cpu qemu64,+svm,+npt). One boot.
import pytest

from conftest import ELF, booted, image
from isolation_cases import *  # noqa: F401,F403 (the test functions)


@pytest.fixture(scope="module")
def repl():
    with booted("qemu", kernel=image(ELF)) as r:
        assert r.eval("__import__('hv').vendor()") == "amd"
        r.timeout = 60          # a busy machine: well beyond the seconds each call takes
        yield r
