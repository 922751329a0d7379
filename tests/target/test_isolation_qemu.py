# Guest isolation (tests/target/isolation_cases.py) on the AMD SVM back end
# with nested paging, under QEMU TCG (-cpu qemu64,+svm,+npt). One boot.
import pytest

from conftest import back_end
from isolation_cases import *  # noqa: F401,F403 (the test functions)


@pytest.fixture(scope="module")
def repl():
    with back_end("amd") as r:
        yield r
