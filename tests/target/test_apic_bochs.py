# The local APIC, I/O APIC and architectural MSRs (tests/target/apic_cases.py)
# under Bochs 2.7: the Intel VMX back end (corei7_skylake_x: CR8 exits) and
# the AMD SVM one (ryzen: V_TPR, NRIPS). One boot per model.
import pytest

from conftest import BOCHS_MODELS, bochs_model
from apic_cases import *  # noqa: F401,F403 (the test functions)
from apic_cases import SETUP


@pytest.fixture(scope="module", params=sorted(BOCHS_MODELS))
def bochs(request):
    with bochs_model(request.param, SETUP, timeout=600) as (r, arch):
        yield r, dict(name=request.param, vendor=arch, timeout=600)


@pytest.fixture
def repl(bochs):
    return bochs[0]


@pytest.fixture
def target(bochs):
    return bochs[1]
