# Decoder for the instruction behind an MMIO exit or a string I/O exit: the
# forms guests use on device registers (MOV, MOVZX/MOVSX/MOVSXD, the ALU group,
# TEST, XCHG, MOVS/STOS/LODS, INS/OUTS), 8-64 bit, with legacy prefixes and
# REX (SDM 2A ch. 2; opcode map App. A Tables ). Fills a reused
# Insn. Pure Python: runs on the bare-metal port and on CPython.
from micropython import const
from hv.x86.fault import GuestFault, UD
from hv.x86.insn import DecodeError, MAX_LENGTH
from hv.x86.modrm import DS, ES, modrm, need, le, sx

# Operations (Insn.op).
OP_NONE = const(0)
OP_STORE = const(1)     # MOV m, r / MOV m, imm / MOV moffs, AL/eAX
OP_LOAD = const(2)      # MOV r, m / MOV AL/eAX, moffs
OP_MOVZX = const(3)     # MOVZX r, m8/m16
OP_MOVSX = const(4)     # MOVSX r, m8/m16, MOVSXD r, m32
OP_ALU = const(5)       # ADD OR ADC SBB AND SUB XOR CMP (Insn.alu, hv.x86.alu)
OP_TEST = const(6)      # TEST m, r / TEST m, imm
OP_XCHG = const(7)      # XCHG m, r
OP_MOVS = const(8)      # the string operations from here on
OP_STOS = const(9)
OP_LODS = const(10)
OP_INS = const(11)
OP_OUTS = const(12)
OP_NAMES = ("none", "mov-store", "mov-load", "movzx", "movsx", "alu", "test", "xchg",
            "movs", "stos", "lods", "ins", "outs")

# Insn.flags: what the instruction does with its memory operand and RFLAGS.
F_READ = const(1)
F_WRITE = const(2)
F_RFLAGS = const(4)     # writes the status flags (CF PF AF ZF SF OF)

# Registers named by a byte-operand encoding without REX (SDM 2A Table 3-1):
# AH CH DH BH as 16 + (encoding - 4); hv.x86.gpr reads and writes them.
AH = const(16)
_CMP = const(7)

# Legacy prefixes (SDM 2A 2.1.1): 1 = 66, 2 = 67, 3 = F0, 4 = F2/F3, 8 + n =
# segment override n.
_PFX = bytearray(256)
_PFX[0x66], _PFX[0x67], _PFX[0xF0], _PFX[0xF2], _PFX[0xF3] = 1, 2, 3, 4, 4
_PFX[0x26], _PFX[0x2E], _PFX[0x36], _PFX[0x3E], _PFX[0x64], _PFX[0x65] = 8, 9, 10, 11, 12, 13
# One-byte opcodes that are #UD in 64-bit mode (App. A Table A-2 "i64";
# 62, C4, C5 are EVEX/VEX there and D6 is reserved).
_I64 = (0x06, 0x07, 0x0E, 0x16, 0x17, 0x1E, 0x1F, 0x27, 0x2F, 0x37, 0x3F,
        0x60, 0x61, 0x82, 0x9A, 0xCE, 0xD4, 0xD5, 0xD6, 0xEA)
# 0F xx that are #UD everywhere: UD2, UD1, UD0 (SDM 2A "UD").
_UD0F = (0x0B, 0xB9, 0xFF)


class Insn:
    """One decoded instruction, reused from exit to exit (no allocation per
    decode). Fields: op (OP_*), alu (hv.x86.alu.ADD..CMP for OP_ALU), flags
    (F_*), width (operand size in bytes: 1, 2, 4, 8), mwidth (bytes read or
    written in memory: MOVZX/MOVSX differ), reg (the register operand: 0-15,
    AH..AH+3, -1 none), imm / src_imm (an immediate source, already
    sign-extended and cut to width), to_mem (the ALU result goes to memory),
    mem (a memory operand: base, index, scale (shift 0-3), disp (signed),
    riprel, seg (hv.x86.modrm.ES..GS)), rm (the register of a mod=11 form),
    rep (an F2/F3 prefix), lock, addr_bits (16/32/64), bits (code size),
    length (bytes, prefixes included)."""

    def __init__(self):
        self.bits = 64
        self.reset()

    def reset(self):
        self.op = OP_NONE
        self.alu = 0
        self.flags = 0
        self.width = self.mwidth = 0
        self.reg = self.rm = self.base = self.index = -1
        self.imm = 0
        self.src_imm = self.to_mem = self.mem = self.riprel = False
        self.scale = self.disp = self.modreg = 0
        self.seg = DS
        self.rep = self.lock = False
        self.addr_bits = self.length = 0

    def set_string_io(self, is_in, width, rep, addr_bits, seg, length, bits):
        """Describe an INS/OUTS from what the exit reports (SVM EXITINFO1,
        VMX exit qualification and instruction information) instead of
        decoding its bytes; hv.x86.string_io.run takes either."""
        self.reset()
        self.op = OP_INS if is_in else OP_OUTS
        self.width = self.mwidth = width
        self.rep = rep
        self.addr_bits = addr_bits
        self.seg = ES if is_in else seg
        self.length = length
        self.bits = bits
        self.mem = True
        self.flags = F_WRITE if is_in else F_READ

    def __repr__(self):
        return "<Insn %s width %d mem %d reg %d len %d>" % (
            OP_NAMES[self.op], self.width, self.mwidth, self.reg, self.length)


def _greg(r, w, rex):
    # A byte register without any REX: 4-7 are AH CH DH BH (Table 3-1).
    if w == 1 and not rex and 4 <= r < 8:
        return AH + r - 4
    return r


def _unsupported(code, n):
    raise DecodeError("not an instruction the MMIO emulator handles: %s"
                      % " ".join("%02x" % code[k] for k in range(n)))


def decode(d, code, bits):
    """Decode the instruction at the start of code (bytes-like, up to 15
    bytes fetched at the guest's RIP) into d for code size `bits` (16, 32 or
    64: CS.D/L with EFER.LMA); returns its length. Raises GuestFault (#UD
    for an encoding the architecture rejects, #GP(0) past 15 bytes),
    hv.x86.modrm.Truncated when more bytes are needed, DecodeError for a
    valid instruction this emulator does not handle."""
    n = len(code)
    if n > MAX_LENGTH:
        n = MAX_LENGTH
    d.reset()
    d.bits = bits
    i = 0
    osz = asz = False
    seg = -1
    rex = 0
    while True:                             # prefixes (2.1.1), REX last (2.2.1)
        need(i, n)
        b = code[i]
        k = _PFX[b]
        if k == 0:
            if bits == 64 and b & 0xF0 == 0x40:
                rex = b
                i += 1
                continue
            break
        if k == 1:
            osz = True
        elif k == 2:
            asz = True
        elif k == 3:
            d.lock = True
        elif k == 4:
            d.rep = True
        elif bits != 64 or k >= 12:         # in 64-bit mode CS DS ES SS overrides
            seg = k - 8                     # are ignored (2.1.1 group 2; APM3 1.2.4)
        rex = 0                             # a REX before a legacy prefix is ignored
        i += 1
    op = code[i]
    i += 1
    if bits == 64:                          # operand and address size (SDM 1 3.6, Tables 3-3, 3-4)
        osize = 8 if rex & 8 else 2 if osz else 4
        asize = 4 if asz else 8
    elif bits == 32:
        osize = 2 if osz else 4
        asize = 2 if asz else 4
    else:
        osize = 4 if osz else 2
        asize = 4 if asz else 2
    d.addr_bits = asize * 8
    d.width = d.mwidth = osize
    r = ((rex & 4) << 1)                    # REX.R extends ModRM.reg
    lockable = False
    if op < 0x40 and op & 7 < 4:            # ADD..CMP r/m,r and r,r/m (Table A-2)
        w = 1 if op & 1 == 0 else osize
        i = modrm(d, code, i, n, bits, asize, rex, seg)
        d.op = OP_ALU
        d.alu = op >> 3
        d.width = d.mwidth = w
        d.reg = _greg(d.modreg | r, w, rex)
        d.to_mem = op & 2 == 0
        d.flags = F_READ | F_RFLAGS
        if d.to_mem and d.alu != _CMP:
            d.flags |= F_WRITE
            lockable = True
    elif 0x80 <= op <= 0x83:                # group 1: ALU r/m, imm (Table A-6)
        if op == 0x82 and bits == 64:
            raise GuestFault(UD)
        w = osize if op & 1 else 1
        i = modrm(d, code, i, n, bits, asize, rex, seg)
        d.op = OP_ALU
        d.alu = d.modreg
        d.width = d.mwidth = w
        size = 1 if op != 0x81 else 2 if w == 2 else 4
        d.imm = sx(le(code, i, n, size), size) & ((1 << (w * 8)) - 1)
        i += size
        d.src_imm = d.to_mem = True
        d.flags = F_READ | F_RFLAGS
        if d.alu != _CMP:
            d.flags |= F_WRITE
            lockable = True
    elif 0x84 <= op <= 0x8B:                # TEST, XCHG, MOV with ModRM
        w = osize if op & 1 else 1
        i = modrm(d, code, i, n, bits, asize, rex, seg)
        d.width = d.mwidth = w
        d.reg = _greg(d.modreg | r, w, rex)
        if op <= 0x85:
            d.op = OP_TEST
            d.flags = F_READ | F_RFLAGS
        elif op <= 0x87:
            d.op = OP_XCHG
            d.flags = F_READ | F_WRITE
            lockable = True
        elif op <= 0x89:
            d.op = OP_STORE
            d.flags = F_WRITE
        else:
            d.op = OP_LOAD
            d.flags = F_READ
    elif op == 0x63 and bits == 64:         # MOVSXD (ARPL outside 64-bit mode)
        i = modrm(d, code, i, n, bits, asize, rex, seg)
        d.op = OP_MOVSX
        d.mwidth = 2 if osize == 2 else 4
        d.reg = d.modreg | r
        d.flags = F_READ
    elif 0xA0 <= op <= 0xA3:                # MOV AL/eAX <-> moffs (address-size offset)
        w = osize if op & 1 else 1
        d.width = d.mwidth = w
        d.reg = 0
        d.mem = True
        d.disp = le(code, i, n, asize)
        i += asize
        d.seg = seg if seg >= 0 else DS
        d.op = OP_STORE if op & 2 else OP_LOAD
        d.flags = F_WRITE if op & 2 else F_READ
    elif op in (0xA4, 0xA5, 0xAA, 0xAB, 0xAC, 0xAD):    # MOVS, STOS, LODS
        w = osize if op & 1 else 1
        d.width = d.mwidth = w
        d.mem = True
        d.op = OP_MOVS if op <= 0xA5 else OP_STOS if op <= 0xAB else OP_LODS
        d.seg = ES if d.op == OP_STOS else seg if seg >= 0 else DS
        d.flags = F_READ | F_WRITE if d.op == OP_MOVS else F_WRITE if d.op == OP_STOS else F_READ
        if d.op != OP_MOVS:
            d.reg = 0
    elif 0x6C <= op <= 0x6F:                # INS, OUTS: 8/16/32-bit only (REX.W ignored)
        w = (2 if osize == 2 else 4) if op & 1 else 1
        d.width = d.mwidth = w
        d.mem = True
        d.op = OP_INS if op <= 0x6D else OP_OUTS
        d.seg = ES if d.op == OP_INS else seg if seg >= 0 else DS
        d.flags = F_WRITE if d.op == OP_INS else F_READ
    elif op == 0xC6 or op == 0xC7:          # group 11: MOV r/m, imm (/0 only)
        w = osize if op & 1 else 1
        i = modrm(d, code, i, n, bits, asize, rex, seg)
        if d.modreg != 0:
            if d.modreg == 7 and not d.mem and code[i - 1] == 0xF8:
                _unsupported(code, i)       # XABORT / XBEGIN
            raise GuestFault(UD)
        d.width = d.mwidth = w
        size = 1 if w == 1 else 2 if w == 2 else 4
        d.imm = sx(le(code, i, n, size), size) & ((1 << (w * 8)) - 1)
        i += size
        d.src_imm = True
        d.op = OP_STORE
        d.flags = F_WRITE
    elif op == 0xF6 or op == 0xF7:          # group 3: TEST r/m, imm (/0)
        w = osize if op & 1 else 1
        i = modrm(d, code, i, n, bits, asize, rex, seg)
        if d.modreg != 0:
            _unsupported(code, i)           # NOT NEG MUL IMUL DIV IDIV (and /1)
        d.width = d.mwidth = w
        size = 1 if w == 1 else 2 if w == 2 else 4
        d.imm = sx(le(code, i, n, size), size) & ((1 << (w * 8)) - 1)
        i += size
        d.src_imm = True
        d.op = OP_TEST
        d.flags = F_READ | F_RFLAGS
    elif op == 0x0F:                        # two-byte opcodes (Table A-3)
        need(i, n)
        op2 = code[i]
        i += 1
        if op2 in _UD0F:
            raise GuestFault(UD)
        if op2 not in (0xB6, 0xB7, 0xBE, 0xBF):
            _unsupported(code, i)
        i = modrm(d, code, i, n, bits, asize, rex, seg)
        d.op = OP_MOVZX if op2 <= 0xB7 else OP_MOVSX
        d.mwidth = 1 if op2 & 1 == 0 else 2
        d.reg = d.modreg | r
        d.flags = F_READ
    elif bits == 64 and op in _I64:
        raise GuestFault(UD)
    else:
        _unsupported(code, i)
    if not d.mem and d.rm >= 0:
        d.rm = _greg(d.rm, d.mwidth, rex)
    if d.lock and not (lockable and d.mem):
        raise GuestFault(UD)                # SDM 2A LOCK: only RMW forms on memory
    d.length = i
    return i
