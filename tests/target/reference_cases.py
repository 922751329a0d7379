# The architectural fuzzer: guests from tests/payloads/fuzzref.py (classes
# where plain QEMU TCG is an exact reference) run under mpvisor and directly
# under plain QEMU TCG (tests/fuzz/direct.py, one boot for all of them), and
# each guest's digest of its registers and memory must be the same on both.
# A test function that test_reference_qemu.py (AMD SVM, QEMU TCG) and
# test_reference_bochs.py (Intel VMX, Bochs) import with their own
# module-scoped `repl` and `REF_N`. Seed: MPVISOR_FUZZ_SEED, else SEED;
# count: MPVISOR_REF_N, else REF_N. Guest i alone replays as
# fuzzref.case(seed, i) (`python3 tests/fuzz/direct.py SEED I` for the reference).
import os
import time

import pytest

from fuzz import direct

SEED = 0x5EED2026
MAX_EXITS = 2000        # per guest: ~20 COM1 and a few NPF, CPUID, I/O exits expected
BUDGET_S = 10.0         # per guest, run time with the VMM's: a GC pause alone took 0.8-1.9 s on Bochs
BATCH = 25              # guests per REPL call
PAYLOADS = os.path.join(os.path.dirname(__file__), "..", "payloads")
GENERATOR = ("fuzzgen.py", "x86enc.py", "fuzzref_arith.py", "fuzzref_data.py", "fuzzref_classes.py",
             "fuzzref.py")                                     # import order
_F = direct.load_generator()                            # the host's copy of the generator
DATA, DATA_LEN, FAR = _F.DATA, _F.DATA_LEN, _F.FAR
SLOTS = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11",
         "r12", "r13", "r14", "r15", "rflags&mask")
RUNNER = """
import hv, gc, struct, fuzzref

def ref_run(g, trace=False):
    vm = hv.VM(2 << 20)
    try:
        c = vm.load_flat(g.blob, fuzzref.LOAD, fuzzref.LOAD, g.mode)
        r = vm.run(c, echo=False, max_exits=%d, time_budget=%r, report=False, trace=trace)
        memory = vm.read(fuzzref.DATA, fuzzref.DATA_LEN) + vm.read(fuzzref.FAR, fuzzref.FAR_LEN)
        state = vm.read(fuzzref.STATE, fuzzref.STATE_LEN)
    finally:
        vm.close()
    if r.reason == 'HandlerError':
        raise r.error
    return r, state, memory

def ref_one(seed, i, expect):
    # Guest i under the VMM: how it ended, what it printed, a fingerprint of
    # its bytes (the host's generator must have made the same) and, when
    # the line is not `expect`, a second run's STATE slots, report, memory
    # and the exits other than port I/O.
    g = fuzzref.case(seed, i)
    r = ref_run(g)[0]
    out = bytes(r.output).decode()
    extra = None
    if not (r.reason == 'DebugExit' and r.result == 0 and out == expect + '\\n'):
        r2, state, memory = ref_run(g, True)
        extra = (list(struct.unpack('<17Q', state)), r2.report, memory,
                 [t for t in r2.trace if t[0] not in ('IoRead', 'IoWrite')])
    return (r.reason, r.result, out, fuzzref.fnv(g.blob), r.exits, extra)

def ref_batch(seed, start, expects):
    return [ref_one(seed, start + k, e) for k, e in enumerate(expects)]
""" % (MAX_EXITS, BUDGET_S)


def fuzz_seed():
    s = os.environ.get("MPVISOR_FUZZ_SEED")
    return int(s, 0) if s else SEED


def _slot_diff(a, b):
    return ", ".join(f"{SLOTS[k]} {x:#x} vs {y:#x}" for k, (x, y) in enumerate(zip(a, b)) if x != y)


def _memory_diff(a, b, most=8):
    # "addr: x vs y" for the first bytes that differ (DATA then FAR, as dumped).
    def addr(k):
        return DATA + k if k < DATA_LEN else FAR + k - DATA_LEN
    diff = [k for k in range(min(len(a), len(b))) if a[k] != b[k]]
    text = ", ".join(f"{addr(k):#x}: {a[k]:#04x} vs {b[k]:#04x}" for k in diff[:most])
    return text + (f" and {len(diff) - most} more bytes" if len(diff) > most else "")


def describe(seed, i, g, ref, got, back_end):
    """What a failure says about guest i: enough to replay and to read it."""
    reason, result, out, _, exits, extra = got
    code = g.blob[:g.code_len].hex()
    lines = [f"guest {i} of seed {seed:#x} ({g.mode}; classes {dict(sorted(g.used.items()))}; "
             f"RFLAGS mask {g.mask:#x}):",
             f"  plain QEMU TCG digest {ref.digest or ref.line!r}; mpvisor ({back_end}) printed "
             f"{out!r}, ended {reason}({result}) after {exits} exits"]
    if extra is not None:
        state, report, memory, exits_seen = extra
        lines.append(f"  registers differ (reference vs mpvisor): {_slot_diff(ref.state, state) or 'none'}")
        if ref.memory is not None:
            lines.append(f"  memory differs (reference vs mpvisor): {_memory_diff(ref.memory, memory) or 'none'}")
        lines.append(f"  exits other than port I/O: {exits_seen}")
        if reason != "DebugExit":
            lines.append("  " + report.replace("\n", "\n  "))
    lines.append(f"  code at 0x{0x10000:x} (prologue, body to +{g.body_end:#x}, epilogue): {code}")
    lines.append(f"  replay: MPVISOR_FUZZ_SEED={seed:#x} python3 tests/fuzz/direct.py {seed:#x} {i}")
    return "\n".join(lines)


def test_guests_match_plain_qemu(repl, REF_N, back_end_name):
    seed = fuzz_seed()
    n = int(os.environ.get("MPVISOR_REF_N", REF_N))
    fuzzref = direct.load_generator()
    t0 = time.monotonic()
    guests = [fuzzref.case(seed, i) for i in range(n)]
    ref = direct.run(guests, timeout=60 + n // 10)
    t_ref = time.monotonic() - t0
    for name in GENERATOR:
        repl.load(os.path.join(PAYLOADS, name))
    repl.exec(RUNNER)
    mismatches, ends, t1 = [], {}, time.monotonic()
    for start in range(0, n, BATCH):
        expects = [r.digest or "" for r in ref[start:start + BATCH]]
        try:
            got = repl.eval(f"ref_batch({seed}, {start}, {expects!r})", timeout=120 + 10 * len(expects))
        except Exception as e:      # REPL gone or silent: a fatal fault or a hang
            pytest.fail(f"guests {start}-{start + len(expects) - 1} of seed {seed:#x}: the hypervisor "
                        f"died or hung ({type(e).__name__}: {e})")
        for k, one in enumerate(got):
            i = start + k
            if one[3] != fuzzref.fnv(guests[i].blob):
                pytest.fail(f"guest {i} of seed {seed:#x}: the target's generator (MicroPython) "
                            f"made other bytes than the host's (CPython)")
            ends[one[0]] = ends.get(one[0], 0) + 1
            if one[5] is not None or ref[i].digest is None:
                mismatches.append((i, one))
    t_vmm = time.monotonic() - t1
    if mismatches:                  # the reference's memory too, for the report
        dumps = direct.run([guests[i] for i, _ in mismatches], dump=True)
        mismatches = [describe(seed, i, guests[i], d, one, back_end_name)
                      for (i, one), d in zip(mismatches, dumps)]
    used = {}
    for g in guests:
        for c, k in g.used.items():
            used[c] = used.get(c, 0) + k
    print(f"\nreference fuzz ({back_end_name}): {n} guests, seed {seed:#x}; plain QEMU {t_ref:.1f} s, "
          f"mpvisor {t_vmm:.1f} s; endings {ends}; {len(mismatches)} mismatches; "
          f"instructions per class {dict(sorted(used.items()))}")
    assert not mismatches, f"{len(mismatches)} of {n} guests differ from plain QEMU TCG:\n" + \
        "\n".join(mismatches)
    # The digest must tell guests apart: one that ignored the state would match too.
    assert len({r.digest for r in ref}) >= 0.95 * n, "digests repeat: the digest misses state"
    assert set(used) == set(fuzzref.DEFAULT), f"classes never generated: {set(fuzzref.DEFAULT) - set(used)}"
