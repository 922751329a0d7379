# Arithmetic instruction classes for the architectural fuzzer (fuzzref.py),
# those where plain QEMU TCG is an exact reference: ALU, INC/DEC/NOT/NEG,
# TEST, shifts and rotates, SHLD/SHRD, MUL/IMUL/DIV/IDIV, bit ops. Each emits
# one instruction (with the set-up that keeps it defined) and tells the
# generator which RFLAGS bits it defines and which it leaves undefined: the
# union of SDM 2A/2B's and AMD APM3's "undefined", so no flag a vendor may
# vary is read or digested. Guest code for 16/32/64-bit modes; MicroPython and CPython.
import x86enc as X

CF, PF, AF, ZF, SF, OF = 0x1, 0x4, 0x10, 0x40, 0x80, 0x800
ARITH = CF | PF | AF | ZF | SF | OF
DF = 0x400
# The flags each condition code reads (SDM 2A Table B-1 / Jcc), by cc 0-15.
CC_READS = (OF, OF, CF, CF, ZF, ZF, CF | ZF, CF | ZF, SF, SF, PF, PF,
            SF | OF, SF | OF, ZF | SF | OF, ZF | SF | OF)
LAHF_READS = SF | ZF | AF | PF | CF


def _isz(size):
    return 1 if size == 8 else 2 if size == 16 else 4


def _w(size):
    return 0 if size == 8 else 1


def alu(g):
    """ADD OR ADC SBB AND SUB XOR CMP in their four forms (ADC/SBB, which
    read CF, with memory in DATA: see shift())."""
    n = g.r.below(8)
    if n in (2, 3) and g.undef & CF:           # ADC/SBB read CF
        n += 4
    size, rex = g.size()
    w = _w(size)
    form = g.r.below(4)
    near = n in (2, 3)
    if form == 0:
        g.I(bytes([n << 3 | w]), size, reg=g.reg(size, False, rex), rm=g.rm(size, rex, near=near), rex=rex)
    elif form == 1:
        g.I(bytes([n << 3 | 2 | w]), size, reg=g.reg(size, True, rex), rm=g.rm(size, rex, False, near),
            rex=rex)
    elif form == 2:
        if size == 8:
            g.I(b"\x80", 8, reg=n, rm=g.rm(8, rex, near=near), imm=g.imm(1), rex=rex)
        elif g.r.below(2):
            g.I(b"\x83", size, reg=n, rm=g.rm(size, near=near), imm=g.imm(1))
        else:
            g.I(b"\x81", size, reg=n, rm=g.rm(size, near=near), imm=g.imm(_isz(size)))
    else:
        g.I(bytes([n << 3 | 4 | w]), size, imm=g.imm(_isz(size)))
    if n in (1, 4, 6):                         # logic: AF undefined (SDM 2A AND/OR/XOR)
        g.flags(ARITH & ~AF, AF)
    else:
        g.flags(ARITH, 0)
    return True


def unary(g):
    """INC DEC (CF kept) NOT NEG, and the short INC/DEC r outside 64-bit code."""
    k = g.r.below(4)
    size, rex = g.size()
    if k < 2 and g.bits != 64 and size != 8 and g.r.below(2):
        g.I(bytes([0x40 | k << 3]), size, opreg=g.reg(size, True))
    else:
        g.I(bytes([(0xFE if k < 2 else 0xF6) | _w(size)]), size, reg=k, rm=g.rm(size, rex), rex=rex)
    if k < 2:
        g.flags(ARITH & ~CF, 0)
    elif k == 3:
        g.flags(ARITH, 0)
    return True


def testop(g):
    """TEST r/m, reg; r/m, imm; AL/eAX, imm."""
    size, rex = g.size()
    w = _w(size)
    f = g.r.below(3)
    if f == 0:
        g.I(bytes([0x84 | w]), size, reg=g.reg(size, False, rex), rm=g.rm(size, rex, False), rex=rex)
    elif f == 1:
        g.I(bytes([0xF6 | w]), size, reg=0, rm=g.rm(size, rex, False), imm=g.imm(_isz(size)), rex=rex)
    else:
        g.I(bytes([0xA8 | w]), size, imm=g.imm(_isz(size)))
    g.flags(ARITH & ~AF, AF)
    return True


def shift(g):
    """ROL ROR RCL RCR SHL SHR SAR by 1, imm8 or CL (set just before, so the
    count, and with it which flags are defined, is known: SDM 2B SAL/SAR/
    SHL/SHR and RCL/RCR/ROL/ROR "Flags Affected"). RCL/RCR's memory operand
    stays in DATA, which never faults: QEMU 7.2 TCG loses CF when that
    access faults and the instruction is restarted (found by this fuzzer:
    `mov al, 1; cmp al, 2; rcl byte [page never touched], 1` stores 0
    under mpvisor on QEMU, 1 under plain QEMU and under mpvisor on Bochs)."""
    k = (0, 1, 2, 3, 4, 5, 7)[g.r.below(7)]
    if k in (2, 3) and g.undef & CF:
        k += 2
    size, rex = g.size()
    w = _w(size)
    f = g.r.below(3)
    c = 1 if f == 0 else g.count(size)
    if f == 2:
        g.I(b"\xb1", imm=bytes([c]))           # mov cl, count
    op, imm = ((0xD0, b""), (0xC0, bytes([c])), (0xD2, b""))[f]
    g.I(bytes([op | w]), size, reg=k, rm=g.rm(size, rex, near=k in (2, 3)), imm=imm, rex=rex)
    mc = c & (0x3F if size == 64 else 0x1F)
    if mc == 0:
        return True                            # masked count 0: flags unchanged
    of_def, of_undef = (OF, 0) if mc == 1 else (0, OF)
    if k < 4:
        g.flags(CF | of_def, of_undef)
    else:
        cf_def, cf_undef = (CF, 0) if mc < size else (0, CF)
        g.flags(SF | ZF | PF | cf_def | of_def, AF | cf_undef | of_undef)
    return True


def shld(g):
    """SHLD/SHRD by imm8 or CL, count 1 to width-1 (larger 16-bit counts
    leave the result undefined, SDM 2B SHLD). The imm8 form never takes a
    RIP-relative operand: QEMU 7.2 TCG leaves the imm8 out of the next-RIP
    it adds the displacement to and accesses one byte low (found by this
    fuzzer on Bochs, which agrees with objdump and SDM 2A 2.2.1.6)."""
    size = g.size_nb()
    c = 1 + g.r.below(size - 1)
    right = g.r.below(2) << 3
    by_imm = g.r.below(2)
    if by_imm:
        op, imm = 0xA4 | right, bytes([c])
    else:
        g.I(b"\xb1", imm=bytes([c]))
        op, imm = 0xA5 | right, b""
    g.I(bytes([0x0F, op]), size, reg=g.reg(size, False), rm=g.rm(size, rip=not by_imm), imm=imm)
    g.flags(CF | SF | ZF | PF | (OF if c == 1 else 0), AF | (0 if c == 1 else OF))
    return True


def _divide(g, signed):
    # DIV/IDIV that cannot raise #DE (SDM 2A DIV/IDIV): unsigned, a divisor
    # >= 2^(n-1) and a high half < 2^(n-1); signed, a divisor in
    # [2, 2^(n-1)) and the dividend sign-extended from the low half.
    size, rex = g.size()
    w = _w(size)
    if g.r.below(3) == 0:
        d = g.mem(size // 8)
    else:
        bad = ((0,) if rex else (0, 4)) if size == 8 else (0, 2)
        d = g.reg(size, True, rex)
        while d in bad:
            d = g.reg(size, True, rex)
    if signed:
        g.I(bytes([0xD0 | w]), size, reg=5, rm=d, rex=rex)                       # shr d, 1
        g.I(b"\x80" if size == 8 else b"\x83", size, reg=1, rm=d, imm=b"\x02", rex=rex)  # or d, 2
        g.I(b"\x98", 16) if size == 8 else g.I(b"\x99", size)                   # cbw / cwd cdq cqo
    else:
        if size == 8:
            g.I(b"\x80", 8, reg=1, rm=d, imm=b"\x80", rex=rex)                  # or d, 0x80
            g.I(b"\xd0", 8, reg=5, rm=4)                                       # shr ah, 1 (no REX)
        else:
            g.I(b"\x81", size, reg=1, rm=d, imm=X.le(1 << (min(size, 32) - 1), _isz(size)))
            g.I(b"\xd1", size, reg=5, rm=2)                                    # shr rdx, 1
    g.I(bytes([0xF6 | w]), size, reg=7 if signed else 6, rm=d, rex=rex)
    g.flags(0, ARITH)


def muldiv(g):
    """MUL/IMUL (one, two, three operands); DIV/IDIV guarded against #DE."""
    k = g.r.below(5)
    if k == 0:
        size, rex = g.size()
        g.I(bytes([0xF6 | _w(size)]), size, reg=4 + g.r.below(2), rm=g.rm(size, rex, False), rex=rex)
    elif k == 1:
        size = g.size_nb()
        g.I(b"\x0f\xaf", size, reg=g.reg(size, True), rm=g.rm(size, dst=False))
    elif k == 2:
        size = g.size_nb()
        short = g.r.below(2)
        g.I(b"\x6b" if short else b"\x69", size, reg=g.reg(size, True), rm=g.rm(size, dst=False),
            imm=g.imm(1 if short else _isz(size)))
    else:
        _divide(g, k == 4)
        return True
    g.flags(CF | OF, SF | ZF | AF | PF)        # SDM 2A MUL/IMUL
    return True


def bits(g):
    """BT/BTS/BTR/BTC (imm8 on r/m, register offset on a register), BSF/BSR
    of a source made non-zero first, BSWAP r32/r64."""
    k = g.r.below(4)
    size = g.size_nb()
    if k == 0:
        op = g.r.below(4)
        g.I(b"\x0f\xba", size, reg=4 + op, rm=g.rm(size, dst=op > 0), imm=g.imm(1))
    elif k == 1:                               # a memory base would reach past the operand
        op = g.r.below(4)
        g.I(bytes([0x0F, 0xA3 | op << 3]), size, reg=g.reg(size, False), rm=g.reg(size, op > 0))
    elif k == 2:
        src = g.rm(size)
        g.I(b"\x0f\xba", size, reg=5, rm=src, imm=bytes([g.r.below(size)]))   # bts src, k
        g.I(bytes([0x0F, 0xBC | g.r.below(2)]), size, reg=g.reg(size, True), rm=src)
        g.flags(ZF, CF | OF | SF | AF | PF)    # SDM 2A BSF/BSR
        return True
    else:
        size = 64 if g.bits == 64 and g.r.below(2) else 32   # BSWAP r16 is undefined
        g.I(b"\x0f\xc8", size, opreg=g.reg(size, True))
        return True
    g.flags(CF, OF | SF | ZF | AF | PF)        # SDM 2A BT (ZF: APM3 leaves it undefined)
    return True
