# Fuzzing with generated guests (tests/target/fuzz_cases.py) on the AMD SVM
# back end under QEMU TCG. One boot. FUZZ_N keeps the module well under 90 s
# of wall time on an idle machine (see the figure it prints).
import pytest

from conftest import ELF, booted, image
from fuzz_cases import *  # noqa: F401,F403 (the test function)


@pytest.fixture(scope="module")
def FUZZ_N():
    return 1500


@pytest.fixture(scope="module")
def repl():
    with booted("qemu", kernel=image(ELF)) as r:
        assert r.eval("__import__('hv').vendor()") == "amd"
        r.timeout = 60          # a busy machine: well beyond the seconds each call takes
        yield r
