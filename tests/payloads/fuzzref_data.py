# Data-movement, flag, stack, string, branch and exit classes for the
# architectural fuzzer (fuzzref.py), as in fuzzref_arith: one instruction
# with its set-up (string ops' bounds, an exit's results overwritten) and
# its effect on RFLAGS. Guest code for 16/32/64-bit modes; MicroPython and CPython.
import x86enc as X
from fuzzref_arith import ARITH, CF, DF, LAHF_READS, ZF, _isz, _w

def mov(g):
    """MOV (r/m, reg, imm, moffs), MOVZX/MOVSX/MOVSXD, XCHG, LEA, CBW/CWD family."""
    k = g.r.below(10)
    if k <= 3:
        size, rex = g.size()
        w = _w(size)
        if k == 0:
            g.I(bytes([0x88 | w]), size, reg=g.reg(size, False, rex), rm=g.rm(size, rex), rex=rex)
        elif k == 1:
            g.I(bytes([0x8A | w]), size, reg=g.reg(size, True, rex), rm=g.rm(size, rex, False), rex=rex)
        elif k == 2:
            g.I(b"\xb0" if size == 8 else b"\xb8", size, opreg=g.reg(size, True, rex),
                imm=g.imm(8 if size == 64 else _isz(size)), rex=rex)
        else:
            g.I(bytes([0xC6 | w]), size, reg=0, rm=g.rm(size, rex), imm=g.imm(_isz(size)), rex=rex)
    elif k == 4 or k == 5 and g.bits != 64:
        op = (0xB6, 0xB7, 0xBE, 0xBF)[g.r.below(4)]
        size = g.size_nb() if op & 1 == 0 else (64 if g.bits == 64 and g.r.below(2) else 32)
        g.I(bytes([0x0F, op]), size, reg=g.reg(size, True), rm=g.rm(16 if op & 1 else 8, dst=False))
    elif k == 5:
        g.I(b"\x63", 64, reg=g.reg(64, True), rm=g.rm(32, dst=False))   # movsxd
    elif k == 6:
        size, rex = g.size()
        r = g.reg(size, True, rex)
        if size != 8 and r not in (0, 4) and g.r.below(2):
            g.I(b"\x90", size, opreg=r)                                  # xchg eAX, r
        else:
            g.I(bytes([0x86 | _w(size)]), size, reg=r, rm=g.rm(size, rex), rex=rex)
    elif k == 7:
        _lea(g)
    elif k == 8:
        g.I(b"\x98" if g.r.below(2) else b"\x99", g.size_nb())
    else:
        size, rex = g.size()
        a = g.addr(size // 8)
        moffs = X.le(a - g.seg, 2) if g.bits == 16 else X.le(a, g.bits // 8)
        g.I(bytes([0xA0 | _w(size) | g.r.below(2) << 1]), size, imm=moffs)
    return True


def _lea(g):
    # LEA of an arbitrary addressing form (ModRM, SIB, REX.X/B, address-size
    # override): address arithmetic on the registers, no memory access.
    size = g.size_nb()
    d = g.reg(size, True)
    out = bytearray()
    abits = 16 if g.bits == 16 else 32
    if g.r.below(4) == 0:
        out.append(0x67)
        abits = 32 if g.bits == 16 else 16 if g.bits == 32 else 32
    out += X.osize(g.bits, size)
    if g.bits == 64:
        rex = 0x40 | (8 if size == 64 else 0) | (d >> 3) << 2 | g.r.below(4)
        if rex != 0x40 or g.r.below(2):
            out.append(rex)
    out.append(0x8D)
    out += X.random_address_form(abits, g.r, d)
    g.e(out)


def xadd(g):
    """XADD, CMPXCHG."""
    k = g.r.below(2)
    size, rex = g.size()
    op = (0xC0 if k == 0 else 0xB0) | _w(size)
    g.I(bytes([0x0F, op]), size, reg=g.reg(size, k == 0, rex), rm=g.rm(size, rex), rex=rex)
    g.flags(ARITH, 0)
    return True


def cmpxchg8b(g):
    """CMPXCHG8B m64 (ZF only). Not a default class: QEMU 7.2 TCG's helper
    computes RFLAGS from a stale lazy-flags op when a flag-setting
    instruction precedes it in the same translation block, so the other
    flags come out as garbage, TF, IF and IOPL included (found by this
    fuzzer: `mov r15d, 0xd9ec3cc0; sar r15d, 30; cmpxchg8b [m]; pushf`
    pushes 0xffffffbe)."""
    g.I(b"\x0f\xc7", None, reg=1, rm=g.mem(8))
    g.flags(ZF, 0)
    return True


def cmov(g):
    """CMOVcc and SETcc on a condition whose flags are defined; memory
    operands in DATA, as for every instruction that reads flags and memory
    (see shift()): QEMU 7.2 TCG also stores a wrong SETcc result when the
    store faults and is restarted (seed 1, guests 304 312 478 699 811 864
    1158 1239 1482 of tests/target/test_reference_qemu.py before this rule)."""
    cc = g.cc()
    if cc is None:
        return False
    if g.r.below(2):
        size = g.size_nb()
        g.I(bytes([0x0F, 0x40 | cc]), size, reg=g.reg(size, True), rm=g.rm(size, dst=False, near=True))
    else:
        rex = g.bits == 64 and g.r.below(2) == 1
        g.I(bytes([0x0F, 0x90 | cc]), 8, reg=0, rm=g.rm(8, rex, near=True), rex=rex)
    return True


def flagops(g):
    """CLC STC CMC CLD STD LAHF SAHF, PUSH imm + POPF (arithmetic flags and
    DF only), PUSHF + POP r (all flags defined)."""
    k = g.r.below(7)
    st = g.stack_size()
    n = (st or g.bits) // 8
    if k == 1 and g.undef & CF or k == 3 and g.undef & LAHF_READS or k == 6 and g.undef \
            or k >= 5 and not g.can_push(n):
        return False
    if k == 0:
        g.I(bytes([0xF8 | g.r.below(2)]))
        g.flags(CF, 0)
    elif k == 1:
        g.I(b"\xf5")
        g.flags(CF, 0)
    elif k == 2:
        g.I(bytes([0xFC | g.r.below(2)]))
    elif k == 3:
        g.I(b"\x9f")
    elif k == 4:
        g.I(b"\x9e")
        g.flags(LAHF_READS, 0)
    elif k == 5:
        v = g.r.below(1 << 12) & (ARITH | DF) | 2
        g.I(b"\x68", st, imm=X.le(v, 2 if n == 2 else 4))
        g.I(b"\x9d", st)
        g.flags(ARITH, 0)
    else:
        g.I(b"\x9c", st)
        g.I(b"\x58", st, opreg=g.reg(64 if g.bits == 64 else 32, True))
    return True


def stack(g):
    """PUSH r/imm/m, POP r/m in the default and the other stack width,
    within the stack room (the generator tracks RSP)."""
    k = g.r.below(5)
    st = g.stack_size()
    n = (st or g.bits) // 8
    if k == 1 or k == 4:
        if not g.can_pop(n):
            return False
        g.depth -= n
    else:
        if not g.can_push(n):
            return False
        g.depth += n
    if k == 0:
        g.I(b"\x50", st, opreg=g.reg(64, False) if g.bits == 64 else g.r.below(8))
    elif k == 1:
        g.I(b"\x58", st, opreg=g.reg(64 if g.bits == 64 else 32, True))
    elif k == 2:
        short = g.r.below(2)
        g.I(b"\x6a" if short else b"\x68", st, imm=g.imm(1 if short else min(n, 4)))
    elif k == 3:
        g.I(b"\xff", st, reg=6, rm=g.mem(n))
    else:
        g.I(b"\x8f", st, reg=0, rm=g.mem(n))
    return True


def string(g):
    """MOVS STOS LODS CMPS SCAS, bytes to qwords, plain or REP/REPE/REPNE,
    either direction, with rSI/rDI/rCX set so every access stays in one area."""
    k = g.r.below(5)                           # movs cmps stos lods scas
    e = (1, 2, 4, 8)[g.r.below(4 if g.bits == 64 else 3)]
    rep = g.r.below(3)
    n = g.r.below(33) if rep else 1
    down = g.r.below(2)
    wide = 16 if g.bits == 16 else 32
    for reg, used in ((6, k in (0, 1, 3)), (7, k in (0, 1, 2, 4))):
        if used:
            a = g.span(n * e if n else e, e, down)
            g.I(b"\xb8", wide, opreg=reg, imm=X.le(a - g.seg if g.bits == 16 else a, wide // 8))
    g.I(b"\xb8", wide, opreg=1, imm=X.le(n, wide // 8))
    g.I(bytes([0xFC | down]))
    pre = b""
    if rep:
        pre = b"\xf2" if k in (1, 4) and rep == 2 else b"\xf3"
    op = (0xA4, 0xA6, 0xAA, 0xAC, 0xAE)[k] | (1 if e > 1 else 0)
    g.I(bytes([op]), None if e == 1 else e * 8, pre=pre)
    if k in (1, 4) and n:
        g.flags(ARITH, 0)
    return True


def branch(g):
    """Jcc over a block of 1-3 instructions (no stack ops: both paths must
    leave RSP alike), or JMP over bytes that never run."""
    if g.in_block:
        return False
    if g.r.below(4) == 0:
        junk = bytes(g.r.below(256) for _ in range(1 + g.r.below(8)))
        g.I(b"\xeb", imm=bytes([len(junk)]))
        g.e(junk)
        return True
    cc = g.cc()
    if cc is None:
        return False
    g.e(bytes([0x70 | cc, 0]))
    at = len(g.code)
    undef0 = g.undef
    g.in_block = True
    for _ in range(1 + g.r.below(3)):
        g.one(("stack", "branch"))
    g.in_block = False
    size = len(g.code) - at
    if size > 127:
        raise ValueError("a branch block of %d bytes" % size)
    g.code[at - 1] = size
    g.undef |= undef0
    return True


def exits(g):
    """Instructions a hypervisor intercepts whose results differ legitimately
    (CPUID, RDTSC, IN), overwritten at once, and ones with none (OUT to the
    POST port, PAUSE, NOPs): the state around the exit must survive it."""
    k = g.r.below(6)
    if k == 0:
        leaf = (0, 1, 7, 0xB, 0x80000000, 0x80000001, 0x40000000, 0x40000001)[g.r.below(8)]
        g.I(b"\xb8", 32, opreg=0, imm=X.le(leaf, 4))
        g.I(b"\xb8", 32, opreg=1, imm=g.imm(4))
        g.I(b"\x0f\xa2")
        for r in (0, 3, 1, 2):
            g.I(b"\xb8", 32, opreg=r, imm=g.imm(4))
    elif k == 1:
        g.I(b"\x0f\x31")
        for r in (0, 2):
            g.I(b"\xb8", 32, opreg=r, imm=g.imm(4))
    elif k == 2:
        if g.r.below(2):
            g.I(b"\xe4\x80")
            g.I(b"\xb0", imm=g.imm(1))
        else:
            g.I(b"\xe5", 32 if g.r.below(2) else 16, imm=b"\x80")
            g.I(b"\xb8", 32, opreg=0, imm=g.imm(4))
    elif k == 3:
        g.I(b"\xe6" if g.r.below(2) else b"\xe7", None if g.r.below(2) else 16, imm=b"\x80")
    elif k == 4:
        g.I(b"\xf3\x90")
    else:
        out = bytearray(X.osize(g.bits, 16) if g.r.below(2) else b"")
        out += b"\x0f\x1f"
        out += X.random_address_form(16 if g.bits == 16 else 32, g.r, 0)
        g.e(out)                               # NOP r/m (SDM 2B NOP): decodes, never accesses
    return True
