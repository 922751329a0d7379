# The ModRM, SIB, displacement and immediate fields of an x86 instruction
# (SDM 2A 2.1.3-2.1.5, Tables 2-1 to 2-3; 64-bit forms 2.2.1.1-2.2.1.6),
# parsed into a reused hv.x86.decode.Insn for the MMIO decoder. Pure Python:
# runs on the bare-metal port and on CPython.
from micropython import const
from hv.x86.fault import GuestFault, GP
from hv.x86.insn import DecodeError, MAX_LENGTH

# Segment registers in the order the hardware numbers them (SDM 2A 3.1.1.3
# "Sreg"; the same numbering in SDM 3C Table 28-8 and APM2 15.10.2 SEG).
ES = const(0)
CS = const(1)
SS = const(2)
DS = const(3)
FS = const(4)
GS = const(5)

# 16-bit addressing (SDM 2A Table 2-1): r/m -> base, index (BX=3 BP=5 SI=6 DI=7).
_BASE16 = (3, 3, 5, 5, 6, 7, 5, 3)
_INDEX16 = (6, 7, 6, 7, -1, -1, -1, -1)


class Truncated(DecodeError):
    """The bytes given end before the instruction does (fewer than 15 were
    fetched, e.g. at the end of a mapped page): fetch more and decode again."""


def need(i, n):
    """Fail unless byte i of the n fetched exists: an instruction that needs
    a 16th byte is #GP(0) (SDM 2A 2.3.11: 15 bytes at most)."""
    if i >= n:
        if n >= MAX_LENGTH:
            raise GuestFault(GP, 0)
        raise Truncated("instruction needs more than the %d bytes fetched" % n)


def le(code, i, n, size):
    """The little-endian unsigned field of `size` bytes at code[i]."""
    need(i + size - 1, n)
    v = 0
    k = size
    while k:
        k -= 1
        v = (v << 8) | code[i + k]
    return v


def sx(v, size):
    """Sign-extend a `size`-byte field to a Python int."""
    top = 1 << (size * 8 - 1)
    return (v ^ top) - top


def modrm(d, code, i, n, bits, asize, rex, seg):
    """Parse the ModRM byte at code[i] and what follows it (SIB, displacement)
    into d; returns the index after them. asize: address size in bytes; rex:
    the effective REX byte (0: none); seg: the override prefix's segment or
    -1 (then DS, or SS for a BP/SP-based address: SDM 1 3.7.4.1)."""
    need(i, n)
    m = code[i]
    i += 1
    mod = m >> 6
    d.modreg = (m >> 3) & 7
    rm = m & 7
    if mod == 3:                            # a register operand, no memory
        d.mem = False
        d.rm = rm | (rex & 1) << 3
        return i
    d.mem = True
    d.rm = -1
    ss = False
    if asize == 2:                          # Table 2-1
        if mod == 0 and rm == 6:
            d.base = -1
            d.index = -1
            d.disp = le(code, i, n, 2)
            i += 2
        else:
            d.base = _BASE16[rm]
            d.index = _INDEX16[rm]
            ss = d.base == 5
            if mod == 1:
                d.disp = sx(le(code, i, n, 1), 1)
                i += 1
            elif mod == 2:
                d.disp = sx(le(code, i, n, 2), 2)
                i += 2
            else:
                d.disp = 0
        d.scale = 0
        d.seg = seg if seg >= 0 else SS if ss else DS
        return i
    d.index = -1                            # Tables 2-2, 2-3 and 2-5 (REX)
    d.scale = 0
    disp32 = mod == 2
    if rm == 4:                             # a SIB byte follows
        need(i, n)
        s = code[i]
        i += 1
        idx = ((s >> 3) & 7) | (rex & 2) << 2
        if idx != 4:                        # index 100b without REX.X: none
            d.index = idx
            d.scale = s >> 6
        b = s & 7
        if b == 5 and mod == 0:             # no base, disp32 (REX.B ignored)
            d.base = -1
            disp32 = True
        else:
            d.base = b | (rex & 1) << 3
    elif rm == 5 and mod == 0:              # disp32; RIP-relative in 64-bit mode
        d.base = -1
        d.riprel = bits == 64
        disp32 = True
    else:
        d.base = rm | (rex & 1) << 3
    if mod == 1:
        d.disp = sx(le(code, i, n, 1), 1)
        i += 1
    elif disp32:
        d.disp = sx(le(code, i, n, 4), 4)
        i += 4
    else:
        d.disp = 0
    ss = d.base == 4 or d.base == 5         # ESP/EBP-based (not R12/R13)
    d.seg = seg if seg >= 0 else SS if ss else DS
    return i
