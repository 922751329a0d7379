# MMIO and string I/O emulation (tests/target/mmio_cases.py) under Bochs 2.7:
# the Intel VMX back end (cpu: model=corei7_skylake_x, EPT, INS/OUTS
# instruction information) and the AMD SVM one (model=ryzen: NRIPS, IOIO
# address-size bits, no decode assists). One boot per model.
import pytest

from conftest import BOCHS_MODELS, bochs_model
from mmio_cases import *  # noqa: F401,F403 (the test functions)
from mmio_cases import SETUP


@pytest.fixture(scope="module", params=sorted(BOCHS_MODELS))
def bochs(request):
    with bochs_model(request.param, SETUP, timeout=300) as (r, arch):
        yield r, dict(name=request.param, timeout=600, loops=2000)


@pytest.fixture
def repl(bochs):
    return bochs[0]


@pytest.fixture
def target(bochs):
    return bochs[1]
