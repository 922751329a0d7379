# The guest scenario table (tests/guests/scenarios.py) on the VMX back end,
# Bochs corei7_skylake_x: the SVM back end's guests, API, exits and COM1
# output, frames all returned. The guests' VMMCALL reaches the VMX vCPU as
# #UD and is taken as a hypercall. One boot for the module.
import os
import sys

import pytest

from conftest import ISO, booted, image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "guests"))
from scenarios import RUNNER, SCENARIOS, check_inside, expected_output  # noqa: E402

# A scenario's "skip" entry names an emulator defect that makes it
# meaningless there; such a case is not generated. The "bochs" entries are
# Bochs' SVM (model=ryzen); this target's key is:
TARGET = "bochs-vmx"
CASES = [pytest.param(s, id=s["name"]) for s in SCENARIOS if TARGET not in s.get("skip", {})]


@pytest.fixture(scope="module")
def bochs_vmx():
    with booted("bochs", iso=image(ISO), model="corei7_skylake_x") as repl:
        assert repl.eval("__import__('hv').vendor()") == "intel"
        repl.exec(RUNNER)
        yield repl


@pytest.mark.parametrize("scenario", CASES)
def test_scenario(bochs_vmx, scenario):
    got = bochs_vmx.eval(f"run_scenario({scenario['guest']!r}, {scenario['mode']!r}, "
                         f"{scenario['vmm']!r})", timeout=300)
    xsave = bochs_vmx.eval("XSAVE")
    assert got["output"] == expected_output(scenario, xsave)
    assert got["exits"] == scenario["exits"]
    assert got["reason"] == scenario["reason"]
    assert got["free_delta"] == 0, "frames leaked by the VM"
    assert "BAD" not in got["output"]


@pytest.mark.parametrize("scenario", CASES)
def test_scenario_with_exits_inside(bochs_vmx, scenario):
    got = bochs_vmx.eval(f"run_inside({scenario['guest']!r}, {scenario['mode']!r}, "
                         f"{scenario['vmm']!r})", timeout=300)
    check_inside(got, scenario, bochs_vmx.eval("XSAVE"))
