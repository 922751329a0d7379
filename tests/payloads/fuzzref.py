# Generated guests whose end state plain QEMU TCG predicts exactly: a
# prologue sets every GPR, RFLAGS and RSP from the seed, a body of
# instructions from fuzzref_classes (flags the SDM/APM leave undefined are
# tracked, never read, masked out), an epilogue stores the registers and
# writes an FNV-1a digest of them and of the memory areas to COM1, then
# port 0xF4 (ends the VM under mpvisor; tests/fuzz/direct.asm's QEMU has no
# device there and the guest jumps back to it). Real, protected, long mode;
# deterministic per seed on MicroPython (sent by Repl.load) and CPython.
from micropython import const
import x86enc as X
from fuzzgen import Rng, case_seed
from fuzzref_classes import ARITH, CC_READS, CLASSES, DEFAULT, DF

# Guest-physical (and linear: flat or identity-mapped) layout, shared with
# tests/fuzz/layout.inc. Real mode reaches it with DS = ES = SS = LOAD >> 4.
LOAD = const(0x10000)           # code, entered here (real mode: CS:IP 1000:0000)
CODE_MAX = const(0x1000)
DATA = const(0x11000)           # seeded bytes, loaded with the code; holds the stack
DATA_LEN = const(0x200)
STACK0 = const(0x11100)         # RSP after the prologue
PUSH_ROOM = const(0xC0)         # how far below STACK0 pushes may go
POP_ROOM = const(0x80)          # how far above STACK0 pops may go
STATE = const(0x11200)          # the epilogue's register dump: 16 GPR slots, RFLAGS
STATE_LEN = const(0x88)
BLOB_LEN = const(0x1288)        # LOAD..STATE + STATE_LEN: what the runners load
FAR = const(0x14000)            # two pages, zero, not loaded: first touches fault in under a VMM
FAR_LEN = const(0x2000)
RET_REAL = const(0x8000)        # where the guest jumps after port 0xF4 (direct runner)
RET_PROT = const(0x8040)
RET_LONG = const(0x8080)
REGIONS = ((STATE, STATE_LEN), (DATA, DATA_LEN), (FAR, FAR_LEN))   # digest order
MODES = ("real", "protected", "long")
BITS = {"real": 16, "protected": 32, "long": 64}
BODY = const(64)                # instructions per guest body
RFLAGS_KEPT = const(0x3C7FD7)   # bits 0-21 less RF, VM and the reserved 3, 5, 15
FNV_BASIS = const(0x811C9DC5)   # FNV-1a, 32-bit
FNV_PRIME = const(0x01000193)
_SPECIAL = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000,
            0xFFFFFFFF, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF)
_COM1, _COM1_LSR = const(0x3F8), const(0x3FD)


class Gen:
    """The state of one guest's generation: code so far, RFLAGS bits now
    undefined, stack depth below STACK0, the classes used."""

    def __init__(self, rng, mode, allowed=DEFAULT):
        self.r = rng
        self.mode = mode
        self.bits = BITS[mode]
        self.nregs = 16 if self.bits == 64 else 8
        self.seg = LOAD if self.bits == 16 else 0
        self.code = bytearray()
        self.undef = 0
        self.depth = 0
        self.in_block = False
        self.allowed = allowed
        self.used = {}

    # -- emitting ------------------------------------------------------------
    def here(self):
        return LOAD + len(self.code)

    def e(self, data):
        self.code += data

    def I(self, op, size=None, reg=0, rm=None, imm=b"", opreg=None, rex=False, pre=b""):
        self.code += X.enc(self.bits, op, size, reg, rm, imm, opreg, self.here(), rex, pre, self.seg)

    def flags(self, defined, undefined):
        self.undef = (self.undef & ~defined) | undefined

    def one(self, exclude=()):
        """One instruction (with its set-up) of an allowed class."""
        while True:
            name, fn = CLASSES[self.r.below(len(CLASSES))]
            if name in self.allowed and name not in exclude and fn(self):
                self.used[name] = self.used.get(name, 0) + 1
                return

    # -- operands ------------------------------------------------------------
    def size(self):
        """(operand size, REX for byte registers): 8, 16, 32 and in 64-bit
        code 64; REX (SPL..DIL, R8B..R15B instead of AH..BH) half the time."""
        s = (8, 16, 32, 64)[self.r.below(4 if self.bits == 64 else 3)]
        return s, s == 8 and self.bits == 64 and self.r.below(2) == 1

    def size_nb(self):
        return (16, 32, 64)[self.r.below(3 if self.bits == 64 else 2)]

    def stack_size(self):
        """A PUSH/POP operand size for osize(): the mode's default or the other."""
        if self.r.below(4):
            return None if self.bits == 64 else self.bits
        return 16 if self.bits != 16 else 32

    def reg(self, size, dst=True, rex=False):
        """A register number; a destination is never rSP (nor SPL)."""
        n = (16 if rex else 8) if size == 8 else self.nregs
        while True:
            r = self.r.below(n)
            if not (dst and r == 4 and (size != 8 or rex)):
                return r

    def addr(self, n, near=False):
        """An n-byte operand in DATA or FAR, often across FAR's page boundary;
        near: in DATA (loaded, so never a first touch that faults)."""
        k = 1 if near else self.r.below(4)
        if k == 0:
            return FAR + FAR_LEN // 2 - self.r.below(n + 1) - (self.r.below(2) * 4)
        base, size = (DATA, DATA_LEN) if k == 1 else (FAR, FAR_LEN)
        return base + self.r.below(size - n + 1)

    def mem(self, n, near=False, rip=True):
        """A memory operand; in 64-bit code RIP-relative half the time, if rip."""
        return X.Mem(self.addr(n, near), rip and self.bits == 64 and self.r.below(2) == 1)

    def rm(self, size, rex=False, dst=True, near=False, rip=True):
        return self.mem(size // 8, near, rip) if self.r.below(2) else self.reg(size, dst, rex)

    def span(self, total, e, down):
        """First element's address of a string op touching `total` bytes, in
        e-byte steps, downwards if `down`, inside one area."""
        k = self.r.below(3)
        base, size = (DATA, DATA_LEN) if k == 0 else (FAR, FAR_LEN)
        if k == 2:                             # across FAR's page boundary
            low = FAR + FAR_LEN // 2 - self.r.below(total + 1)
        else:
            low = base + self.r.below(size - total + 1)
        return low + total - e if down else low

    def imm(self, n):
        """n immediate bytes: random, or a boundary value, sign-extended."""
        if self.r.below(4) == 0:
            v = _SPECIAL[self.r.below(len(_SPECIAL))]
        else:
            v = self.r.next()
        return X.le(v, n)

    def count(self, size):
        """A shift count: mostly within the operand width, sometimes beyond."""
        if self.r.below(2):
            return self.r.below(size + 2)
        return self.r.below(256)

    def cc(self):
        """A condition code whose flags are all defined now, or None."""
        ok = [c for c in range(16) if not CC_READS[c] & self.undef]
        return ok[self.r.below(len(ok))] if ok else None

    def can_push(self, n):
        return self.depth + n <= PUSH_ROOM

    def can_pop(self, n):
        return self.depth - n >= -POP_ROOM


def prologue(g):
    """Segments (real mode), RSP, every GPR and RFLAGS from the seed: the
    guest depends on no entry state but the mode's."""
    wide = 64 if g.bits == 64 else 32
    if g.bits == 16:
        g.e(b"\xb8" + X.le(LOAD >> 4, 2) + b"\x8e\xd8\x8e\xc0\x8e\xd0")   # ds = es = ss = ax
    g.I(b"\xb8", 32, opreg=4, imm=X.le(STACK0 - g.seg, 4))               # mov esp (64: zero-extends)
    for r in range(g.nregs):
        if r != 4:
            g.I(b"\xb8", wide, opreg=r, imm=g.imm(wide // 8))
    v = g.r.below(1 << 12) & (ARITH | DF) | 2
    st = None if g.bits == 64 else 32
    g.I(b"\x68", st, imm=X.le(v, 4))
    g.I(b"\x9d", st)                                                      # popf: IF = TF = 0


def _putc(g):
    # AL to COM1 once its transmitter holds nothing (LSR bit 5, as
    # tests/guests/common.inc's puts). Clobbers BL, DX.
    g.e(b"\x88\xc3")                                    # mov bl, al
    g.I(b"\xb8", 16, opreg=2, imm=X.le(_COM1_LSR, 2))   # mov dx, COM1_LSR
    g.e(b"\xec\xa8\x20\x74\xfb")                        # in al, dx; test al, 0x20; jz -5
    g.e(b"\x88\xd8")                                    # mov al, bl
    g.I(b"\xb8", 16, opreg=2, imm=X.le(_COM1, 2))
    g.e(b"\xee")                                        # out dx, al


def _loop_back(g, top):
    rel = top - (len(g.code) + 2)
    if rel < -128:
        raise ValueError("loop of %d bytes" % -rel)
    g.e(bytes([0x75, rel & 0xFF]))                      # jnz top


def _dec(g, r):
    # dec r (16/32-bit counters; FF /1 in 64-bit code, where 48+r is REX)
    if g.bits == 64:
        g.I(b"\xff", 32, reg=1, rm=r)
    else:
        g.e(bytes([0x48 + r]))


def epilogue(g, mask):
    """Store the GPRs and RFLAGS & mask at STATE (the stack slot PUSHF used
    rewritten with the masked value), FNV-1a over REGIONS, print it as 8 hex
    digits and a newline on COM1, write port 0xF4, then jump to the direct
    runner's return point for the mode."""
    b = g.bits
    wide = 64 if b == 64 else 32
    st = None if b == 64 else 32
    for r in range(g.nregs):
        g.I(b"\x89", wide, reg=r, rm=X.Mem(STATE + 8 * r))
    g.I(b"\x9c", st)
    g.I(b"\x58", st, opreg=0)
    g.I(b"\x25", 32, imm=X.le(mask, 4))                 # and eax, mask
    g.I(b"\x89", wide, reg=0, rm=X.Mem(STATE + 8 * 16))
    g.I(b"\x50", st, opreg=0)
    g.I(b"\x58", st, opreg=0)
    g.I(b"\xb8", 32, opreg=5, imm=X.le(FNV_BASIS, 4))   # ebp = digest
    for addr, n in REGIONS:
        a = 16 if b == 16 else 32
        g.I(b"\xb8", a, opreg=6, imm=X.le(addr - g.seg, a // 8))
        g.I(b"\xb8", a, opreg=1, imm=X.le(n, a // 8))
        top = len(g.code)
        g.e(X.osize(b, 32) + (b"\x0f\xb6\x04" if b == 16 else b"\x0f\xb6\x06"))   # movzx eax, byte [si]
        g.I(b"\x31", 32, reg=0, rm=5)                   # xor ebp, eax
        g.I(b"\x69", 32, reg=5, rm=5, imm=X.le(FNV_PRIME, 4))
        if b == 64:
            g.I(b"\xff", 32, reg=0, rm=6)               # inc esi
        else:
            g.e(b"\x46")
        _dec(g, 1)
        _loop_back(g, top)
    g.I(b"\xb8", 16 if b == 16 else 32, opreg=7, imm=X.le(8, 2 if b == 16 else 4))
    top = len(g.code)
    g.I(b"\xc1", 32, reg=0, rm=5, imm=b"\x04")          # rol ebp, 4
    g.I(b"\x89", 32, reg=5, rm=0)                       # mov eax, ebp
    g.e(b"\x24\x0f\x04\x30\x3c\x39\x76\x02\x04\x27")    # al = "0123456789abcdef"[al & 15]
    _putc(g)
    _dec(g, 7)
    _loop_back(g, top)
    g.e(b"\xb0\x0a")
    _putc(g)
    g.e(b"\xb0\x00\xe6\xf4")                            # mov al, 0; out 0xF4, al
    if b == 16:
        g.e(b"\xea" + X.le(RET_REAL, 2) + b"\x00\x00")  # jmp 0000:RET_REAL
    else:
        g.I(b"\xb8", 32, opreg=0, imm=X.le(RET_PROT if b == 32 else RET_LONG, 4))
        g.e(b"\xff\xe0")                                # jmp eax / rax


class Guest:
    """mode, blob (BLOB_LEN bytes loaded at LOAD), body_end (offset where
    the epilogue starts), code_len, mask (the RFLAGS bits digested), used
    (class -> count)."""

    def __init__(self, mode, blob, body_end, code_len, mask, used):
        self.mode, self.blob, self.body_end, self.code_len = mode, blob, body_end, code_len
        self.mask, self.used = mask, used


def guest(seed, mode, n=BODY, allowed=DEFAULT):
    """A guest for mode from seed: prologue, n instructions, epilogue."""
    g = Gen(Rng(seed), mode, allowed)
    prologue(g)
    for _ in range(n):
        g.one()
    body_end = len(g.code)
    mask = RFLAGS_KEPT & ~g.undef
    epilogue(g, mask)
    if len(g.code) > CODE_MAX:
        raise ValueError("%d bytes of code (at most %d)" % (len(g.code), CODE_MAX))
    data = bytearray()
    for _ in range(DATA_LEN // 8):
        data += X.le(g.r.next(), 8)
    blob = bytes(g.code) + b"\xcc" * (DATA - LOAD - len(g.code)) + bytes(data) + bytes(STATE_LEN)
    return Guest(mode, blob, body_end, len(g.code), mask, g.used)


def case(seed, index):
    """Guest `index` of a run seeded `seed`: the modes take turns."""
    return guest(case_seed(seed, index), MODES[index % 3])


def fnv(data, h=FNV_BASIS):
    """The epilogue's digest step, over bytes (host-side reference)."""
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & 0xFFFFFFFF
    return h


def digest(memory):
    """The digest a guest prints, from memory(addr, n) -> bytes after it ran."""
    h = FNV_BASIS
    for addr, n in REGIONS:
        h = fnv(memory(addr, n), h)
    return h
