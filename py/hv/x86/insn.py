# Instruction-length decoder for the instructions the vCPUs intercept, for
# CPUs without next-RIP reporting (SVM without NRIPS, e.g. QEMU TCG: APM2
# 15.7.1). Legacy prefixes and REX (AMD APM3 1.2), then a short opcode table.
# Pure Python: runs on the bare-metal port and on CPython (host tests).
from micropython import const

MAX_LENGTH = const(15)                      # APM3 1.1: longest x86 instruction

# Legacy prefixes (APM3 Table 1-2): operand/address size, LOCK, REP, segments.
_PREFIXES = {0x66, 0x67, 0xF0, 0xF2, 0xF3, 0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65}

# Opcode bytes after the prefixes -> total length of those bytes (no ModRM
# forms: every intercepted instruction here has a fixed encoding).
_ONE_BYTE = {
    0xF4: 1,                                # HLT
    0xEC: 1, 0xED: 1, 0xEE: 1, 0xEF: 1,     # IN/OUT with DX
    0xE4: 2, 0xE5: 2, 0xE6: 2, 0xE7: 2,     # IN/OUT with imm8
    0x6C: 1, 0x6D: 1, 0x6E: 1, 0x6F: 1,     # INS/OUTS
    0xCC: 1,                                # INT3
    0xCD: 2,                                # INT imm8
}
_TWO_BYTE = {                               # 0F xx
    0x08: 2,                                # INVD
    0x09: 2,                                # WBINVD
    0x30: 2,                                # WRMSR
    0x31: 2,                                # RDTSC
    0x32: 2,                                # RDMSR
    0x33: 2,                                # RDPMC
    0xA2: 2,                                # CPUID
    0x22: 3,                                # MOV CRn, reg (ModRM's mod ignored: always 3)
}
_GROUP7 = {                                 # 0F 01 xx (APM3 Table A-6, mod = 11b)
    0xC8: 3, 0xC9: 3,                       # MONITOR, MWAIT
    0xD0: 3, 0xD1: 3,                       # XGETBV, XSETBV
    0xD8: 3, 0xD9: 3, 0xDA: 3, 0xDB: 3,     # VMRUN, VMMCALL, VMLOAD, VMSAVE
    0xDC: 3, 0xDD: 3, 0xDE: 3, 0xDF: 3,     # STGI, CLGI, SKINIT, INVLPGA
    0xF9: 3,                                # RDTSCP
}


class DecodeError(ValueError):
    pass


def length(code, long_mode):
    """Length of the instruction at the start of code (a bytes-like object
    of up to 15 bytes). long_mode: 64-bit code, where 0x40-0x4F are REX
    prefixes rather than INC/DEC. Raises DecodeError for anything else."""
    n = len(code)
    i = 0
    while i < n and code[i] in _PREFIXES:
        i += 1
    if long_mode and i < n and 0x40 <= code[i] <= 0x4F:
        i += 1                              # REX must be last (APM3 1.2.7)
    if i >= n:
        raise DecodeError("instruction runs past %d bytes" % n)
    op = code[i]
    k = _ONE_BYTE.get(op)
    if k is None and op == 0x0F and i + 1 < n:
        op2 = code[i + 1]
        k = _TWO_BYTE.get(op2)
        if k is None and op2 == 0x01 and i + 2 < n:
            k = _GROUP7.get(code[i + 2])
    if k is None:
        raise DecodeError("cannot decode %s" % " ".join("%02x" % b for b in code[i:i + 4]))
    if i + k > MAX_LENGTH:
        raise DecodeError("instruction longer than 15 bytes")
    return i + k


def mov_to_cr(code, long_mode):
    """(cr, gpr, length) of MOV CRn, reg at the start of code (0F 22 /r,
    SDM 2B MOV-Move to/from Control Registers): REX.R extends the CR, REX.B
    the GPR, and on AMD a LOCK prefix selects CR8 from CR0 (APM3 MOV CRn).
    Raises DecodeError for anything else."""
    n = length(code, long_mode)
    i, lock, rex = 0, False, 0
    while code[i] in _PREFIXES:
        lock = lock or code[i] == 0xF0
        i += 1
    if long_mode and 0x40 <= code[i] <= 0x4F:
        rex = code[i]
        i += 1
    if code[i] != 0x0F or code[i + 1] != 0x22:
        raise DecodeError("not MOV to CRn: %s" % " ".join("%02x" % b for b in code[i:i + 3]))
    modrm = code[i + 2]
    cr = (modrm >> 3 & 7) | (rex & 4) << 1
    if lock and cr == 0:
        cr = 8
    return cr, (modrm & 7) | (rex & 1) << 3, n


def _table():
    # The decoder's tables as bytes for hv.vcpu.svm.nextrip (viper): 0-255 legacy
    # prefix flags, then lengths of one-byte, 0F xx and 0F 01 xx opcodes.
    t = bytearray(1024)
    for p in _PREFIXES:
        t[p] = 1
    for base, table in ((256, _ONE_BYTE), (512, _TWO_BYTE), (768, _GROUP7)):
        for op, n in table.items():
            t[base + op] = n
    return bytes(t)


TABLE = _table()
