# The local APIC, I/O APIC and architectural MSRs (tests/target/apic_cases.py)
# under Bochs 2.7: the Intel VMX back end (corei7_skylake_x: CR8 exits) and
# the AMD SVM one (ryzen: V_TPR, NRIPS). One boot per model.
import pytest

from conftest import ISO, booted, image
from apic_cases import *  # noqa: F401,F403 (the test functions)
from apic_cases import SETUP

MODELS = {"bochs-vmx": ("corei7_skylake_x", "intel"), "bochs-ryzen": ("ryzen", "amd")}


@pytest.fixture(scope="module", params=sorted(MODELS))
def bochs(request):
    model, arch = MODELS[request.param]
    with booted("bochs", iso=image(ISO), model=model) as r:
        assert r.eval("__import__('hv').vendor()") == arch
        r.timeout = 600
        r.exec(SETUP)
        yield r, dict(name=request.param, vendor=arch, timeout=600)


@pytest.fixture
def repl(bochs):
    return bochs[0]


@pytest.fixture
def target(bochs):
    return bochs[1]
