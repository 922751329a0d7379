# Seeded generator of random guest instruction streams for fuzzing the
# hypervisor: raw random bytes, random valid instructions (those that exit:
# CPUID, I/O, MSRs, hypercalls, HLT, CR moves, ...; and ordinary ones that
# set registers or touch memory), per guest mode (real, protected, long).
# Deterministic for a seed on MicroPython and CPython alike (xorshift64*;
# MicroPython has no `random` module here).
from micropython import const

_MASK64 = const(0xFFFFFFFFFFFFFFFF)
MODES = ("real", "protected", "long")
KINDS = ("bytes", "valid", "mixed")


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


def _imm(r, n):
    return r.below(1 << (8 * n)).to_bytes(n, "little")


def _b(r):
    return bytes([r.below(256)])


# MSRs worth aiming at: TSC, APIC base, EFER, STAR/LSTAR, SYSENTER, PAT, the
# feature control and VMX capability MSRs, VM_CR and VM_HSAVE_PA, KVM/Hyper-V
# style synthetic ranges, and the VMM's test MSR.
_MSRS = (0x10, 0x1B, 0x3A, 0x174, 0x176, 0x277, 0x480, 0x48D, 0xC0000080, 0xC0000081,
         0xC0000082, 0xC0000100, 0xC0010114, 0xC0010117, 0x40000000, 0x4B564D00,
         0x4D500001, 0xFFFFFFFF)
# Ports worth aiming at: PIC, PIT, COM1, POST, isa-debug-exit, PCI config,
# the VMM's test port, and what is left of the 16-bit space.
_PORTS = (0x20, 0x21, 0x40, 0x43, 0x61, 0x80, 0xA0, 0xA1, 0x3F8, 0x3F9, 0x3FB, 0x3FD,
          0xCF8, 0xCFC, 0x600, 0xFFFF)

# Instructions valid in all three modes (byte and port forms, whose
# encodings do not depend on the operand size). Each returns bytes.
_VALID = (
    lambda r: b"\x0f\xa2",                                   # cpuid
    lambda r: b"\xf4",                                       # hlt
    lambda r: b"\xe4" + _b(r),                               # in al, imm8
    lambda r: b"\xe6" + _b(r),                               # out imm8, al
    lambda r: b"\xec",                                       # in al, dx
    lambda r: b"\xee",                                       # out dx, al
    lambda r: b"\xed",                                       # in eax/ax, dx
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
    lambda r: b"\x0f\x01\xd0",                               # xgetbv
    lambda r: b"\x0f\x01\xd1",                               # xsetbv
    lambda r: b"\x0f\x09",                                   # wbinvd
    lambda r: b"\x0f\x08",                                   # invd
    lambda r: b"\xf3\x90",                                   # pause
    lambda r: b"\x0f\x01\xc8",                               # monitor
    lambda r: b"\x0f\x01\xc9",                               # mwait
    lambda r: b"\x0f\x01\xda",                               # vmload
    lambda r: b"\x0f\x01\xd8",                               # vmrun
    lambda r: b"\x0f\x78\xc0",                               # vmread (no VMX: #UD)
    lambda r: b"\x90",                                       # nop
    lambda r: b"\xb0" + _b(r),                               # mov al, imm8
    lambda r: b"\xb1" + _b(r),                               # mov cl, imm8
    lambda r: b"\x04" + _b(r),                               # add al, imm8
    lambda r: b"\x9c",                                       # pushf
    lambda r: b"\x9d",                                       # popf
    lambda r: b"\xeb" + _b(r),                               # jmp rel8 (anywhere nearby)
    lambda r: bytes([0x70 + r.below(16), r.below(256)]),     # jcc rel8
    lambda r: b"\xcd" + _b(r),                               # int imm8
)

# Per mode: register set-up in that mode's operand size, so the exiting
# instructions above see chosen MSRs, ports, hypercall numbers and CR values.
_REAL = (
    lambda r: b"\x66\xb9" + _MSRS[r.below(len(_MSRS))].to_bytes(4, "little"),  # mov ecx, msr
    lambda r: b"\xba" + _PORTS[r.below(len(_PORTS))].to_bytes(2, "little"),    # mov dx, port
    lambda r: b"\xb8" + _imm(r, 2),                          # mov ax, imm16
    lambda r: b"\x66\xb8" + _imm(r, 4),                      # mov eax, imm32
    lambda r: b"\x8e\xd8",                                   # mov ds, ax
    lambda r: b"\xa0" + _imm(r, 2),                          # mov al, [moffs16]
    lambda r: b"\xa2" + _imm(r, 2),                          # mov [moffs16], al
    lambda r: b"\x0f\x22\xc0",                               # mov cr0, eax
    lambda r: b"\xea" + _imm(r, 4),                          # jmp far ptr16:16
)
_PROTECTED = (
    lambda r: b"\xb9" + _MSRS[r.below(len(_MSRS))].to_bytes(4, "little"),      # mov ecx, msr
    lambda r: b"\x66\xba" + _PORTS[r.below(len(_PORTS))].to_bytes(2, "little"),  # mov dx, port
    lambda r: b"\xb8" + _imm(r, 4),                          # mov eax, imm32
    lambda r: b"\xba" + _imm(r, 4),                          # mov edx, imm32
    lambda r: b"\xbf" + _imm(r, 4),                          # mov edi, imm32 (hypercall arg)
    lambda r: b"\xb8" + bytes([r.below(4)]) + b"\0\0\0",     # mov eax, hypercall 0-3
    lambda r: b"\xa0" + _imm(r, 4),                          # mov al, [moffs32]
    lambda r: b"\xa2" + _imm(r, 4),                          # mov [moffs32], al
    lambda r: b"\x0f\x22\xc0",                               # mov cr0, eax
    lambda r: b"\x0f\x22\xe0",                               # mov cr4, eax
    lambda r: b"\x0f\x01\x15" + _imm(r, 4),                  # lgdt [disp32]
    lambda r: b"\x0f\x01\x1d" + _imm(r, 4),                  # lidt [disp32]
    lambda r: b"\xf3\xab",                                   # rep stosd
)
_LONG = (
    lambda r: b"\xb9" + _MSRS[r.below(len(_MSRS))].to_bytes(4, "little"),      # mov ecx, msr
    lambda r: b"\x66\xba" + _PORTS[r.below(len(_PORTS))].to_bytes(2, "little"),  # mov dx, port
    lambda r: b"\x48\xb8" + _imm(r, 8),                      # mov rax, imm64
    lambda r: b"\xb8" + _imm(r, 4),                          # mov eax, imm32
    lambda r: b"\xba" + _imm(r, 4),                          # mov edx, imm32
    lambda r: b"\x48\xbf" + _imm(r, 8),                      # mov rdi, imm64
    lambda r: b"\xb8" + bytes([r.below(4)]) + b"\0\0\0",     # mov eax, hypercall 0-3
    lambda r: b"\x8a\x00",                                   # mov al, [rax]
    lambda r: b"\x88\x00",                                   # mov [rax], al
    lambda r: b"\x48\xa1" + _imm(r, 5) + b"\0\0\0",          # mov rax, [moffs64 < 2^40]
    lambda r: _flip(b"\xc0", 1 + r.below(30)),              # CR0 with one bit flipped
    lambda r: _flip(b"\xe0", (0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 18, 20,
                              21, 22)[r.below(20)]),         # CR4 likewise
    lambda r: b"\x44\x0f\x22\xc0",                           # mov cr8, rax
    lambda r: b"\x0f\x01\xf8",                               # swapgs
    lambda r: b"\x0f\x05",                                   # syscall
    lambda r: b"\x48\xcf",                                   # iretq
    lambda r: b"\x0f\x01\xf9",                               # rdtscp
)


def _flip(modrm, bit):
    # mov rax, crN; xor rax, 1 << bit; mov crN, rax. Long mode never flips
    # CR0.PE/PG or CR4.PAE: QEMU 7.2 TCG takes CR0 = 0 without the #GP of
    # APM2 3.1.1 and, after CR4 = 0, stops taking interrupts or exits at all
    # (found by this fuzzer; an emulator defect, not one a guest can use on
    # hardware).
    return b"\x0f\x20" + modrm + b"\x48\x35" + (1 << bit).to_bytes(4, "little") + b"\x0f\x22" + modrm


_BY_MODE = {"real": _REAL, "protected": _PROTECTED, "long": _LONG}


def _valid(rng, mode):
    if mode is not None and rng.below(2):
        table = _BY_MODE[mode]
    else:
        table = _VALID
    return table[rng.below(len(table))](rng)


def stream(seed, length=256, valid_share=3, mode=None):
    """A guest code stream of `length` bytes: of every four pieces,
    `valid_share` are valid instructions (with mode 'real', 'protected' or
    'long', half of them that mode's register set-up and memory forms),
    the rest 1-6 random bytes."""
    rng = Rng(seed)
    out = bytearray()
    while len(out) < length:
        if rng.below(4) < valid_share:
            out += _valid(rng, mode)
        else:
            out += rng.bytes(1 + rng.below(6))
    return bytes(out[:length])


def case_seed(seed, index):
    """The seed of guest `index` of a run seeded `seed` (replayable alone)."""
    return (seed * 1000003 + index * 0x9E3779B1) & _MASK64


def case(seed, index, length=256):
    """Guest `index` of a fuzz run: (mode, kind, code). Modes and kinds
    take turns, so any 9 consecutive guests cover every pair."""
    mode = MODES[index % 3]
    kind = KINDS[(index // 3) % 3]
    s = case_seed(seed, index)
    if kind == "bytes":
        return mode, kind, Rng(s).bytes(length)
    return mode, kind, stream(s, length, 4 if kind == "valid" else 2, mode)
