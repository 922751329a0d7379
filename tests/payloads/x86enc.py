# A small x86 instruction encoder for generated guest code (fuzzref.py):
# operand-size prefix, REX, opcode, ModRM/SIB, displacement, immediate, in
# 16-, 32- and 64-bit code (SDM 2A 2.1 instruction format, Tables 2-1/2-2
# ModRM addressing, 2.2.1 REX). Host CPython and the target's MicroPython.


class Mem:
    """A memory operand at linear address `addr`: [disp16] off DS in 16-bit
    code, [disp32] in 32-bit code, [disp32] through a SIB without base or
    index (or, rip=True, RIP-relative) in 64-bit code."""

    def __init__(self, addr, rip=False):
        self.addr = addr
        self.rip = rip


def le(value, n):
    """value as n little-endian bytes (two's complement for negatives)."""
    return (value & ((1 << (8 * n)) - 1)).to_bytes(n, "little")


def osize(bits, size):
    """The operand-size prefix size needs in bits-bit code (SDM 2A 2.1.1):
    b'\\x66' for 16-bit operands outside 16-bit code and for 32-bit
    operands in 16-bit code, else nothing (64-bit operands take REX.W)."""
    if size == 16 and bits != 16 or size == 32 and bits == 16:
        return b"\x66"
    return b""


def enc(bits, op, size=None, reg=0, rm=None, imm=b"", opreg=None, here=0, rex=False,
        pre=b"", seg=0):
    """One instruction: `pre` (REP, address-size, ...), the operand-size
    prefix for `size`, REX (W for size 64, R/B for registers 8-15; rex=True
    forces one, e.g. for SPL..DIL), `op` (its last byte plus opreg & 7 for
    the +r forms), ModRM with reg (a register or /digit) and rm (a register
    number or a Mem), `imm`. here: the instruction's linear address (for
    RIP-relative operands); seg: the DS base 16-bit displacements are off."""
    out = bytearray(pre)
    out += osize(bits, size)
    w = 1 if size == 64 else 0
    r = reg >> 3
    if opreg is not None:
        b = opreg >> 3
    elif rm is not None and not isinstance(rm, Mem):
        b = rm >> 3
    else:
        b = 0
    if w or r or b or rex:
        if bits != 64:
            raise ValueError("REX outside 64-bit code")
        out.append(0x40 | w << 3 | r << 2 | b)
    op = bytearray(op)
    if opreg is not None:
        op[-1] += opreg & 7
    out += op
    if rm is not None:
        regf = (reg & 7) << 3
        if not isinstance(rm, Mem):
            out.append(0xC0 | regf | rm & 7)
        elif bits == 16:
            out.append(regf | 6)                    # mod 00 r/m 110: [disp16]
            out += le(rm.addr - seg, 2)
        elif bits == 32:
            out.append(regf | 5)                    # mod 00 r/m 101: [disp32]
            out += le(rm.addr, 4)
        elif rm.rip:
            out.append(regf | 5)                    # 64-bit: [rip + disp32] (2.2.1.6)
            out += le(rm.addr - (here + len(out) + 4 + len(imm)), 4)
        else:
            out.append(regf | 4)                    # SIB base 101 index 100: [disp32]
            out.append(0x25)
            out += le(rm.addr, 4)
    out += imm
    return bytes(out)


def random_address_form(bits, rng, reg):
    """ModRM (mod != 11), SIB and displacement bytes of an arbitrary memory
    form with ModRM.reg = reg & 7, in `bits`-bit addressing (16 or 32/64):
    what LEA computes from registers without touching memory."""
    mod = rng.below(3)
    rm = rng.below(8)
    out = bytearray([mod << 6 | (reg & 7) << 3 | rm])
    if bits == 16:
        disp = 2 if mod == 2 or mod == 0 and rm == 6 else mod
    else:
        disp = 4 if mod == 2 else mod
        if rm == 4:
            sib = rng.below(256)
            out.append(sib)
            if mod == 0 and sib & 7 == 5:
                disp = 4
        elif mod == 0 and rm == 5:
            disp = 4                                # [disp32], RIP-relative in 64-bit code
    for _ in range(disp):
        out.append(rng.below(256))
    return bytes(out)
