# The multiboot guests and loader (tests/target/multiboot_cases.py) on the
# AMD SVM back end under QEMU TCG (-cpu qemu64,+svm,+npt). One boot.
import pytest

from conftest import ELF, booted, image
from multiboot_cases import *  # noqa: F401,F403 (the test functions)


@pytest.fixture(scope="module")
def repl():
    with booted("qemu", kernel=image(ELF)) as r:
        assert r.eval("__import__('hv').vendor()") == "amd"
        r.exec("import hv, hw, demos, guests")
        yield r
