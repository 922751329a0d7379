# The multiboot guests and loader (tests/target/multiboot_cases.py) on the
# AMD SVM back end under QEMU TCG (-cpu qemu64,+svm,+npt). One boot.
import pytest

from conftest import back_end
from multiboot_cases import *  # noqa: F401,F403 (the test functions)


@pytest.fixture(scope="module")
def repl():
    with back_end("amd", "hv, hw, demos, guests") as r:
        yield r
