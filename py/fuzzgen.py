# Seeded generator of random guest instruction streams for fuzzing the
# hypervisor: raw random bytes mixed with random valid instructions that
# exit (CPUID, I/O, MSR access, hypercalls, HLT, control-register moves,
# INT3, UD2). Deterministic for a seed on MicroPython and CPython alike
# (xorshift64*; MicroPython has no `random` module here).
from micropython import const

_MASK64 = const(0xFFFFFFFFFFFFFFFF)


class Rng:
    """xorshift64* (Vigna 2014): small, fast, the same on every Python."""

    def __init__(self, seed):
        self.state = (seed * 0x9E3779B97F4A7C15 + 1) & _MASK64 or 1

    def next(self):
        x = self.state
        x ^= x >> 12
        x ^= (x << 25) & _MASK64
        x ^= x >> 27
        self.state = x
        return (x * 0x2545F4914F6CDD1D) & _MASK64

    def below(self, n):
        return self.next() % n

    def bytes(self, n):
        return bytes(self.below(256) for _ in range(n))


def _imm32(rng):
    return rng.below(1 << 32).to_bytes(4, "little")


# Instructions valid in all three modes (16-bit forms where operands differ
# are avoided by using byte and port forms). Each returns bytes.
_VALID = (
    lambda r: b"\x0f\xa2",                                   # cpuid
    lambda r: b"\xf4",                                       # hlt
    lambda r: b"\xe4" + bytes([r.below(256)]),               # in al, imm8
    lambda r: b"\xe6" + bytes([r.below(256)]),               # out imm8, al
    lambda r: b"\xec",                                       # in al, dx
    lambda r: b"\xee",                                       # out dx, al
    lambda r: b"\x0f\x32",                                   # rdmsr
    lambda r: b"\x0f\x30",                                   # wrmsr
    lambda r: b"\x0f\x01\xd9",                               # vmmcall
    lambda r: b"\x0f\x01\xc1",                               # vmcall
    lambda r: b"\x0f\x20\xc0",                               # mov eax, cr0
    lambda r: b"\x0f\x22\xd8",                               # mov cr3, eax
    lambda r: b"\xcc",                                       # int3
    lambda r: b"\x0f\x0b",                                   # ud2
    lambda r: b"\xfa",                                       # cli
    lambda r: b"\xfb",                                       # sti
    lambda r: b"\x0f\x31",                                   # rdtsc
    lambda r: b"\xb9" + _imm32(r)[:2] + b"\x00\xc0",         # mov ecx, 0xC000xxxx (an MSR)
    lambda r: b"\x66\xba" + bytes([r.below(256), r.below(4)]),  # mov dx, port
    lambda r: b"\xeb" + bytes([r.below(256)]),               # jmp rel8 (anywhere nearby)
)


def stream(seed, length=256, valid_share=3):
    """A guest code stream of about `length` bytes: of every four pieces,
    `valid_share` are valid exiting instructions, the rest random bytes."""
    rng = Rng(seed)
    out = bytearray()
    while len(out) < length:
        if rng.below(4) < valid_share:
            out += _VALID[rng.below(len(_VALID))](rng)
        else:
            out += rng.bytes(1 + rng.below(6))
    return bytes(out[:length])
