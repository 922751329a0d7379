# The local APIC, I/O APIC and architectural MSRs (tests/target/apic_cases.py)
# on the AMD SVM back end under QEMU TCG (-cpu qemu64,+svm,+npt: no decode
# assists, so every APIC access is decoded from guest memory). One boot.
import pytest

from conftest import back_end
from apic_cases import *  # noqa: F401,F403 (the test functions)
from apic_cases import SETUP


@pytest.fixture(scope="module")
def repl():
    with back_end("amd", setup=SETUP) as r:
        yield r


@pytest.fixture
def target():
    return dict(name="qemu", vendor="amd", timeout=300)
