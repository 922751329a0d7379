# The integer ALU of the emulated forms: ADD OR ADC SBB AND SUB XOR CMP (the
# group-1 order of SDM 2A Table A-6) and TEST, with their status flags (each
# instruction's "Flags Affected"; SDM 1 3.4.3.1 and App. A). Ints only, no
# allocation beyond big ints. Runs on the bare-metal port and on CPython.
from micropython import const

ADD = const(0)
OR = const(1)
ADC = const(2)
SBB = const(3)
AND = const(4)
SUB = const(5)
XOR = const(6)
CMP = const(7)
NAMES = ("add", "or", "adc", "sbb", "and", "sub", "xor", "cmp")

CF = const(1 << 0)
PF = const(1 << 2)
AF = const(1 << 4)
ZF = const(1 << 6)
SF = const(1 << 7)
DF = const(1 << 10)
OF = const(1 << 11)
STATUS = const(0x8D5)                       # CF PF AF ZF SF OF

# PF: set when the low byte of the result has an even number of 1 bits.
_PARITY = bytearray(256)
for _v in range(256):
    _b, _x = 0, _v
    while _x:
        _b ^= _x & 1
        _x >>= 1
    _PARITY[_v] = 0 if _b else PF


def compute(op, a, b, carry, w):
    """a op b at width w bytes (carry: CF in, for ADC/SBB); CMP gives a - b."""
    m = (1 << (w * 8)) - 1
    if op == AND:
        return a & b
    if op == OR:
        return a | b
    if op == XOR:
        return a ^ b
    if op == ADD:
        return (a + b) & m
    if op == ADC:
        return (a + b + carry) & m
    if op == SBB:
        return (a - b - carry) & m
    return (a - b) & m                      # SUB, CMP


def logic_flags(r, w):
    """Status flags after AND/OR/XOR/TEST: CF = OF = 0, SF ZF PF from the
    result; AF is undefined and left clear, as Bochs and QEMU do."""
    f = _PARITY[r & 0xFF]
    if r == 0:
        f |= ZF
    if r >> (w * 8 - 1):
        f |= SF
    return f


def flags(op, a, b, r, carry, w):
    """Status flags (the STATUS bits of RFLAGS) after r = compute(op, a, b,
    carry, w)."""
    if op == AND or op == OR or op == XOR:
        return logic_flags(r, w)
    top = w * 8 - 1
    f = logic_flags(r, w) | ((a ^ b ^ r) & AF)
    if op == ADD or op == ADC:
        if a + b + (carry if op == ADC else 0) >> (top + 1):
            f |= CF
        if (~(a ^ b) & (a ^ r)) >> top & 1:
            f |= OF
    else:                                   # SUB, SBB, CMP: a - b (- CF)
        if a < b + (carry if op == SBB else 0):
            f |= CF
        if ((a ^ b) & (a ^ r)) >> top & 1:
            f |= OF
    return f
