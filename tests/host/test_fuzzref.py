# The architectural fuzzer's generator (tests/payloads/fuzzref*.py, x86enc.py):
# deterministic per seed, every default class in every mode, guests that run
# to the epilogue touching only their areas, an epilogue that stores exactly
# the registers the body left and prints the FNV digest of them and the
# memory, the layout tests/fuzz/direct.asm assumes. Guests run in Unicorn.
import os
import re
import subprocess
import tempfile

import pytest

import fuzzref
import x86enc as X
from fuzzref_classes import DEFAULT, NAMES, NOT_REFERENCE
from fuzzref_arith import CF, OF, SF, ZF, ARITH

LAYOUT = os.path.join(os.path.dirname(__file__), "..", "fuzz", "layout.inc")
TAIL = {"real": b"\xea" + X.le(fuzzref.RET_REAL, 2) + b"\0\0",
        "protected": b"\xb8" + X.le(fuzzref.RET_PROT, 4) + b"\xff\xe0",
        "long": b"\xb8" + X.le(fuzzref.RET_LONG, 4) + b"\xff\xe0"}


def cases(seed, n):
    return [fuzzref.case(seed, i) for i in range(n)]


def test_same_seed_same_guest_other_seeds_other_guests():
    assert [g.blob for g in cases(7, 6)] == [g.blob for g in cases(7, 6)]
    blobs = {g.blob for g in cases(8, 60)}
    assert len(blobs) == 60
    assert [g.mode for g in cases(8, 6)] == list(fuzzref.MODES) * 2


def test_blob_layout_and_epilogue_end():
    for g in cases(3, 30):
        b = g.blob
        assert len(b) == fuzzref.BLOB_LEN
        assert g.body_end < g.code_len <= fuzzref.CODE_MAX
        assert b[g.code_len:fuzzref.DATA - fuzzref.LOAD] == b"\xcc" * (fuzzref.DATA - fuzzref.LOAD - g.code_len)
        assert b[fuzzref.STATE - fuzzref.LOAD:] == bytes(fuzzref.STATE_LEN)
        # The epilogue ends: mov al, 0; out 0xF4, al; jump to the direct runner.
        assert b[:g.code_len].endswith(b"\xb0\x00\xe6\xf4" + TAIL[g.mode])


def test_every_default_class_in_every_mode_and_none_other():
    for mode in fuzzref.MODES:
        used = {}
        for s in range(40):
            for c, k in fuzzref.guest(s, mode).used.items():
                used[c] = used.get(c, 0) + k
        assert set(used) == set(DEFAULT), (mode, set(DEFAULT) ^ set(used))
        assert min(used.values()) > 40, (mode, used)
    assert set(NAMES) - set(DEFAULT) == {n for n, _ in NOT_REFERENCE} == {"cmpxchg8b"}
    g = fuzzref.guest(1, "long", allowed=("cmpxchg8b", "mov"))
    assert set(g.used) == {"cmpxchg8b", "mov"}


def test_layout_matches_the_direct_runner():
    defines = dict(re.findall(r"^%define\s+(\w+)\s+(0x[0-9A-Fa-f]+)", open(LAYOUT).read(), re.M))
    assert len(defines) >= 10
    for name, value in defines.items():
        assert getattr(fuzzref, name) == int(value, 16), name
    assert fuzzref.BLOB_LEN == fuzzref.STATE + fuzzref.STATE_LEN - fuzzref.LOAD
    assert fuzzref.STACK0 - fuzzref.PUSH_ROOM - 8 >= fuzzref.DATA
    assert fuzzref.STACK0 + fuzzref.POP_ROOM <= fuzzref.DATA + fuzzref.DATA_LEN


def test_condition_codes_and_flag_readers_avoid_undefined_flags():
    from fuzzgen import Rng
    g = fuzzref.Gen(Rng(1), "long")
    g.undef = CF
    assert {g.cc() for _ in range(200)} == {0, 1, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15}
    g.undef = ZF | SF | OF
    assert {g.cc() for _ in range(200)} == {2, 3, 10, 11}
    g.undef = ARITH
    assert g.cc() is None
    from fuzzref_data import cmov, flagops
    assert not cmov(g) and g.code == b""
    g.undef = 0
    g.flags(ARITH & ~CF, OF)
    assert g.undef == OF


@pytest.mark.parametrize("mode", fuzzref.MODES)
def test_guests_run_to_the_end_and_print_the_digest_of_what_they_left(mode):
    import uc_guest
    areas = [(fuzzref.DATA, fuzzref.DATA + fuzzref.DATA_LEN), (fuzzref.FAR, fuzzref.FAR + fuzzref.FAR_LEN)]
    lo, hi = fuzzref.STACK0 - fuzzref.PUSH_ROOM, fuzzref.STACK0 + fuzzref.POP_ROOM
    digests = set()
    for s in range(25):
        g = fuzzref.guest(1000 + s, mode)
        r = uc_guest.run(g)
        assert r.ended and r.regs is not None, (mode, s)
        # Only the areas, within bounds, and the stack within its room.
        for addr, size in r.reads + r.writes:
            assert any(a <= addr and addr + size <= b for a, b in areas), (mode, s, hex(addr), size)
        sp = r.regs[4] + (fuzzref.LOAD if mode == "real" else 0)          # real mode: SS = LOAD >> 4
        assert lo <= sp <= hi, (mode, s, hex(sp))
        # STATE holds the registers where the epilogue began, RFLAGS masked.
        state = r.memory(fuzzref.STATE, fuzzref.STATE_LEN)
        slots = [int.from_bytes(state[8 * k:8 * k + 8], "little") for k in range(17)]
        assert slots[:len(r.regs)] == r.regs and not any(slots[len(r.regs):16])
        assert slots[16] == r.rflags & g.mask and g.mask & ~fuzzref.RFLAGS_KEPT == 0
        # It printed the digest of STATE, DATA and FAR as they are now.
        assert r.output == b"%08x\n" % fuzzref.digest(r.memory)
        digests.add(bytes(r.output))
    assert len(digests) == 25


def test_digest_sees_every_byte():
    base = bytes(64)
    h = fuzzref.fnv(base)
    assert all(fuzzref.fnv(base[:k] + b"\x01" + base[k + 1:]) != h for k in range(64))
    assert fuzzref.fnv(b"") == fuzzref.FNV_BASIS and fuzzref.fnv(b"a") == 0xE40C292C   # FNV-1a test vector


ENCODED = [   # (bits, enc arguments, what objdump says)
    (64, dict(op=b"\x89", size=64, reg=9, rm=X.Mem(0x11200)), "mov    %r9,0x11200"),
    (64, dict(op=b"\x0f\xa4", size=32, reg=3, rm=X.Mem(0x11100, True), imm=b"\x0c", here=0x10000),
     "shld   $0xc,%ebx,0x10f8(%rip)"),
    (32, dict(op=b"\x81", size=16, reg=1, rm=X.Mem(0x14ffe), imm=b"\x00\x80"), "orw    $0x8000,0x14ffe"),
    (16, dict(op=b"\x89", size=32, reg=7, rm=X.Mem(0x11238), seg=0x10000), "mov    %edi,0x1238"),
    (64, dict(op=b"\x88", size=8, reg=6, rm=7, rex=True), "mov    %sil,%dil"),
    (64, dict(op=b"\xb8", size=64, opreg=12, imm=X.le(-1, 8)), "movabs $0xffffffffffffffff,%r12"),
    (64, dict(op=b"\xa4", pre=b"\xf3"), "rep movsb %ds:(%rsi),%es:(%rdi)"),
]


@pytest.mark.parametrize("bits,args,text", ENCODED)
def test_encoder_agrees_with_objdump(bits, args, text):
    code = X.enc(bits, **args)
    machine = {16: "i8086", 32: "i386", 64: "i386:x86-64"}[bits]
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(code)
        f.flush()
        out = subprocess.run(["objdump", "-D", "-b", "binary", "-m", machine, f.name],
                             capture_output=True, text=True, check=True).stdout
    lines = [ln.split("\t")[-1].split("#")[0].strip() for ln in out.splitlines() if re.match(r"\s+0:", ln)]
    assert lines == [text], out
