# Fuzzing the hypervisor with generated guests (tests/payloads/fuzzgen.py: random bytes,
# random valid instructions and a mix, in real, protected and long mode), as
# a test function that test_fuzz_qemu.py (AMD SVM, QEMU TCG) and
# test_fuzz_bochs.py (Intel VMX, Bochs) import with their own module-scoped
# `repl` and `FUZZ_N`. Each guest runs under vm.run to its end or to its
# budget (MAX_EXITS exits, BUDGET_S of its own time); the test fails if the
# VMM's own code raises (a HandlerError: there are no user handlers here;
# an exit the vCPU names as unsupported, e.g. INS/OUTS, is an ending), the
# hypervisor dies (fatal dump, REPL gone), hangs, or leaks frames or heap.
# Seed: MPVISOR_FUZZ_SEED (decimal or 0x hex), else SEED; count:
# MPVISOR_FUZZ_N, else the module's FUZZ_N. Guest i alone replays as
# fuzzgen.case(seed, i).
import os
import time

import pytest

SEED = 0x5EED2026
MAX_EXITS = 200         # per guest; most end far sooner
BUDGET_S = 0.02         # per guest, its own run time (TSC): ends spins without exits
BATCH = 10              # guests per REPL call: a hang is pinned to 10 guests

FUZZGEN = os.path.join(os.path.dirname(__file__), "..", "payloads", "fuzzgen.py")
RUNNER = """
import hv, hw, gc, fuzzgen

def fuzz_one(seed, i, max_exits, seconds):
    # One generated guest to its end under the VMM's own exit and time
    # budgets (its watchdog ends a spin without exits): how it ended.
    mode, kind, code = fuzzgen.case(seed, i)
    vm = hv.VM(2 << 20)
    try:
        c = vm.load_flat(code, 0x10000, 0x10000, mode)
        r = vm.run(c, echo=False, max_exits=max_exits, time_budget=seconds, report=False)
    finally:
        vm.close()
    if r.reason == 'HandlerError':      # the VMM's own code raised: a hypervisor bug
        raise r.error
    return mode + ':' + r.reason

def fuzz_batch(seed, start, n, max_exits, seconds):
    ends = {}
    for i in range(start, start + n):
        try:
            end = fuzz_one(seed, i, max_exits, seconds)
        except Exception as e:
            return ('error', i, '%s: %s' % (type(e).__name__, e), ends)
        ends[end] = ends.get(end, 0) + 1
    return ('ok', ends)

def usage():
    gc.collect()
    return hv.frames.free_count(), gc.mem_free()
"""


def fuzz_seed():
    s = os.environ.get("MPVISOR_FUZZ_SEED")
    return int(s, 0) if s else SEED


def run_batch(repl, seed, start, count, replay):
    """fuzz_batch on the target; the endings, or the test fails naming the guest."""
    try:
        got = repl.eval(f"fuzz_batch({seed}, {start}, {count}, {MAX_EXITS}, {BUDGET_S})",
                        timeout=60 + 3 * count)
    except Exception as e:          # REPL gone or silent: a fatal fault or a hang
        pytest.fail(f"guests {start}-{start + count - 1} of seed {seed:#x}: the hypervisor "
                    f"died or hung ({type(e).__name__}: {e}); {replay}")
    if got[0] != "ok":
        what = "/".join(repl.eval(f"fuzzgen.case({seed}, {got[1]})[:2]"))
        pytest.fail(f"guest {got[1]} of seed {seed:#x} ({what}) broke the hypervisor: "
                    f"{got[2]}; {replay}")
    return got[1]


def test_generated_guests_never_break_the_hypervisor(repl, FUZZ_N):
    seed = fuzz_seed()
    n = int(os.environ.get("MPVISOR_FUZZ_N", FUZZ_N))
    replay = f"seed={seed:#x} (MPVISOR_FUZZ_SEED={seed:#x} MPVISOR_FUZZ_N={n} to replay)"
    repl.load(FUZZGEN)
    repl.exec(RUNNER)
    run_batch(repl, seed + 1, 0, 9, replay)             # warm-up: imports and caches
    frames0, heap0 = repl.eval("usage()")
    ends, t0 = {}, time.monotonic()
    for start in range(0, n, BATCH):
        for k, v in run_batch(repl, seed, start, min(BATCH, n - start), replay).items():
            ends[k] = ends.get(k, 0) + v
    wall = time.monotonic() - t0
    frames1, heap1 = repl.eval("usage()")
    print(f"\nfuzz: {n} guests, {replay}, {wall:.1f} s; endings: {dict(sorted(ends.items()))}; "
          f"frames {frames0} -> {frames1}, heap free {heap0} -> {heap1}")
    assert sum(ends.values()) == n
    assert frames1 == frames0, f"frames leaked: {frames0 - frames1}; {replay}"
    # Heap bound as in resources_cases.py: every VM's objects are garbage
    # after close(); 8 KiB covers fragmentation noise (measured: under 1 KiB).
    assert heap0 - heap1 <= 8192, f"heap lost {heap0 - heap1} bytes; {replay}"
    # Endings must vary: a generator or runner stuck on one outcome tests little.
    assert len(ends) >= 6, ends
