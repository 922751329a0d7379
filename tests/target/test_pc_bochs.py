# The PC's devices (tests/target/pc_cases.py, tests/guests/pcdev.asm) under
# Bochs 2.7: the Intel VMX back end (cpu: model=corei7_skylake_x) and the AMD
# SVM one (model=ryzen). One boot per model.
import pytest

from conftest import BOCHS_MODELS, bochs_model
from pc_cases import *  # noqa: F401,F403 (the test functions)
from pc_cases import SETUP


@pytest.fixture(scope="module", params=sorted(BOCHS_MODELS))
def bochs(request):
    with bochs_model(request.param, SETUP, timeout=300) as (r, arch):
        yield r, dict(name=request.param, timeout=900)


@pytest.fixture
def repl(bochs):
    return bochs[0]


@pytest.fixture
def target(bochs):
    return bochs[1]
