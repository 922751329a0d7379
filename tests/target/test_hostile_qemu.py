# Hostile and broken guests (tests/target/hostile_cases.py) on the AMD SVM
# back end under QEMU TCG (-cpu qemu64,+svm,+npt). One boot for the module.
import pytest

from conftest import ELF, booted, image
from hostile_cases import *  # noqa: F401,F403 (the test functions)
from hostile_cases import SETUP

TARGET = dict(name="qemu", arch="amd", budget=3000, cpuid_budget=20000, fast_budget=50000,
              seconds=0.5, ctrl_c_delay=1.0)


@pytest.fixture(scope="module")
def repl():
    with booted("qemu", kernel=image(ELF)) as r:
        assert r.eval("__import__('hv').vendor()") == "amd"
        r.exec("import hv, hw, svm, guests\nfrom hv.vcpu.svm import vmcb as V\n" + SETUP)
        yield r


@pytest.fixture
def target():
    return TARGET
