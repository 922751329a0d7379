# Width-aware reads and writes of guest general-purpose registers for the
# instruction emulator (SDM 1 3.4.1.1: an 8/16-bit write keeps the rest of
# the register, a 32-bit write zero-extends to 64 bits; AH-BH are bits 15:8).
# Over any object with get_gpr(n)/set_gpr(n, v). Runs on the port and CPython.
from micropython import const

_AH = const(16)                             # hv.x86.decode.AH
_M32 = const(0xFFFFFFFF)
MASKS = (0, 0xFF, 0xFFFF, 0, 0xFFFFFFFF, 0, 0, 0, 0xFFFFFFFFFFFFFFFF)


def get(cpu, r, w):
    """Register r (0-15, or AH..BH as 16-19) at width w bytes."""
    if r >= _AH:
        return (cpu.get_gpr(r - _AH) >> 8) & 0xFF
    return cpu.get_gpr(r) & MASKS[w]


def put(cpu, r, w, value):
    """Write value to register r at width w, as a MOV to it does."""
    if r >= _AH:
        r -= _AH
        cpu.set_gpr(r, cpu.get_gpr(r) & ~0xFF00 | (value & 0xFF) << 8)
    elif w >= 4:
        cpu.set_gpr(r, value & MASKS[w])
    else:
        m = MASKS[w]
        cpu.set_gpr(r, cpu.get_gpr(r) & ~m | value & m)


def put_addr(cpu, r, abits, value):
    """Write an address register (RSI, RDI, RCX of a string instruction) at
    address size abits: 16 keeps bits 63:16, 32 zero-extends (SDM 2A MOVS,
    "Operation": SI/ESI/RSI are updated at the address size)."""
    if abits == 16:
        cpu.set_gpr(r, cpu.get_gpr(r) & ~0xFFFF | value & 0xFFFF)
    elif abits == 32:
        cpu.set_gpr(r, value & _M32)
    else:
        cpu.set_gpr(r, value & MASKS[8])
