# The exit benchmark's code on the target (tests/payloads/bench_exits.py, run by
# bench/exits.py), a few iterations of each exit type so it cannot rot: the
# normal path, the minimal native loop (svm/vmx.bench_loop) and, for CPUID,
# the native fast path each finish the guest with the right exit counts and
# give every frame back. No timing is checked. QEMU TCG (SVM) and Bochs
# corei7_skylake_x (VMX); one boot per back end.
import pytest

import os

from conftest import ELF, ISO, booted, image

KINDS = ("cpuid", "out", "in", "hypercall", "rdmsr", "wrmsr", "npf")
TARGETS = {"svm-qemu": ("qemu", dict(kernel=ELF), "amd"),
           "vmx-bochs": ("bochs", dict(iso=ISO, model="corei7_skylake_x"), "intel")}
N = 7

PAYLOAD = os.path.join(os.path.dirname(__file__), "..", "payloads", "bench_exits.py")

@pytest.fixture(scope="module", params=sorted(TARGETS))
def target(request):
    emulator, opts, vendor = TARGETS[request.param]
    opts = {k: image(v) if k in ("kernel", "iso") else v for k, v in opts.items()}
    with booted(emulator, **opts) as repl:
        assert repl.eval("__import__('hv').vendor()") == vendor
        repl.load(PAYLOAD)
        repl.exec("import hv, bench_exits as B")
        yield repl


@pytest.mark.parametrize("kind", KINDS)
def test_exit_paths_complete_with_right_counts(target, kind):
    got = target.eval(f"""(lambda: (
        f0 := hv.frames.free_count(), err := B.check({kind!r}, {N}),
        (err, hv.frames.free_count() - f0))[-1])()""", timeout=300)
    assert got == (None, 0)



def test_fast_path_hands_every_batch_boundary_to_python(target):
    # 2,100 CPUIDs cross FAST_BATCH (1024) twice: 2 answered by Python,
    # 2,098 natively.
    assert target.eval("B.fast_served(2100)") == 2098
    assert target.eval("B.check('cpuid', 2100)", timeout=300) is None


def test_the_natives_serve_only_the_vcpu_whose_tables_they_hold(target):
    # Two vCPUs bound at once: tier one (port/tier.h) holds the last one's
    # handlers, so the other's INs go to its own handler through Python.
    assert target.eval("B.two_bound(50)", timeout=300) == (50, 0)
