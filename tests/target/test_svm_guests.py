# The guest scenario table (tests/guests/scenarios.py) on the SVM back end,
# under QEMU TCG (-cpu qemu64,+svm,+npt: no NRIPS, so RIP is decoded) and
# Bochs (cpu: model=ryzen: NRIPS). Each scenario: exact exits, COM1 output,
# and the frame allocator back at its starting count after vm.close().
# One boot per emulator (module-scoped fixtures).
import os
import sys

import pytest

from conftest import ELF, ISO, booted, image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "guests"))
from scenarios import RUNNER, SCENARIOS, check_inside, expected_output  # noqa: E402

EMULATORS = {
    "qemu": dict(kernel=ELF),
    "bochs": dict(iso=ISO, model="ryzen"),
}


# Scenario x emulator cases. A scenario's "skip" entry names an emulator
# defect that makes it meaningless there (see tests/guests/scenarios.py);
# such a case is not generated rather than reported as skipped.
CASES = [pytest.param(e, s, id="%s-%s" % (e, s["name"]))
         for e in sorted(EMULATORS) for s in SCENARIOS if e not in s.get("skip", {})]


@pytest.fixture(scope="module")
def target(request):
    opts = dict(EMULATORS[request.param])
    path = opts.pop("kernel", None) or opts.pop("iso")
    key = "kernel" if path == ELF else "iso"
    with booted(request.param, **{key: image(path)}, **opts) as repl:
        repl.exec(RUNNER)
        yield request.param, repl


@pytest.mark.parametrize("target, scenario", CASES, indirect=["target"])
def test_scenario(target, scenario):
    emulator, repl = target
    got = repl.eval(f"run_scenario({scenario['guest']!r}, {scenario['mode']!r}, {scenario['vmm']!r})",
                    timeout=300)
    xsave = repl.eval("XSAVE")
    assert got["output"] == expected_output(scenario, xsave), emulator
    assert got["exits"] == scenario["exits"], emulator
    assert got["reason"] == scenario["reason"]
    assert got["free_delta"] == 0, "frames leaked by the VM"
    assert "BAD" not in got["output"]


@pytest.mark.parametrize("target, scenario", CASES, indirect=["target"])
def test_scenario_with_exits_inside(target, scenario):
    emulator, repl = target
    got = repl.eval(f"run_inside({scenario['guest']!r}, {scenario['mode']!r}, {scenario['vmm']!r})",
                    timeout=300)
    check_inside(got, scenario, repl.eval("XSAVE"))
