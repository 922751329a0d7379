# The PC's devices (tests/target/pc_cases.py, tests/guests/pcdev.asm) under
# Bochs 2.7: the Intel VMX back end (cpu: model=corei7_skylake_x) and the AMD
# SVM one (model=ryzen). One boot per model.
import pytest

from conftest import ISO, booted, image
from pc_cases import *  # noqa: F401,F403 (the test functions)
from pc_cases import SETUP

MODELS = {"bochs-vmx": ("corei7_skylake_x", "intel"), "bochs-ryzen": ("ryzen", "amd")}


@pytest.fixture(scope="module", params=sorted(MODELS))
def bochs(request):
    model, arch = MODELS[request.param]
    with booted("bochs", iso=image(ISO), model=model) as r:
        assert r.eval("__import__('hv').vendor()") == arch
        r.timeout = 300
        r.exec(SETUP)
        yield r, dict(name=request.param, timeout=900)


@pytest.fixture
def repl(bochs):
    return bochs[0]


@pytest.fixture
def target(bochs):
    return bochs[1]
