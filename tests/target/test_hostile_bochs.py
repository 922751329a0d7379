# Hostile and broken guests (tests/target/hostile_cases.py) under Bochs 2.7:
# the Intel VMX back end (cpu: model=corei7_skylake_x) and the AMD SVM one
# (model=ryzen, NRIPS). One boot per model; budgets small, Bochs is slow.
import pytest

from conftest import ISO, booted, image
from hostile_cases import *  # noqa: F401,F403 (the test functions)
from hostile_cases import SETUP

MODELS = {
    "bochs-vmx": dict(model="corei7_skylake_x", arch="intel", imports="vmx\nfrom hv.vcpu.vmx import fields as F"),
    "bochs-ryzen": dict(model="ryzen", arch="amd", imports="svm\nfrom hv.vcpu.svm import vmcb as V"),
}
BUDGETS = dict(budget=300, cpuid_budget=5000, fast_budget=20000, seconds=0.5, ctrl_c_delay=2.0)

# Cases not generated for a model, and why (emulator limits, not ours):
NOT_ON = {
    "bochs-ryzen": {
        "test_triple_fault": "Bochs 2.7 stops the whole simulation on a triple fault in an "
                             "SVM guest instead of exiting with SHUTDOWN (tests/guests/scenarios.py)",
        "test_spin_with_interrupts_off":
            "Bochs 2.7 lets physical interrupts exit an SVM guest only while the guest's "
            "RFLAGS.IF is set, even with V_INTR_MASKING (APM2 15.21.1 says the host's IF), "
            "and SVM has no preemption timer: nothing takes `cli; jmp $` back",
    },
}


def pytest_generate_tests(metafunc):
    if "bochs" in metafunc.fixturenames:
        name = metafunc.function.__name__
        metafunc.parametrize("bochs", [m for m in MODELS if name not in NOT_ON.get(m, {})],
                             indirect=True, scope="module")


@pytest.fixture(scope="module")
def bochs(request):
    m = MODELS[request.param]
    with booted("bochs", iso=image(ISO), model=m["model"]) as r:
        assert r.eval("__import__('hv').vendor()") == m["arch"]
        r.exec("import hv, hw, guests, " + m["imports"] + "\n" + SETUP)
        yield r, dict(BUDGETS, name=request.param, arch=m["arch"])


@pytest.fixture
def repl(bochs):
    return bochs[0]


@pytest.fixture
def target(bochs):
    return bochs[1]
