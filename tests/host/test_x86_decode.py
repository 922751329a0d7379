# Host tests of the MMIO instruction decoder (hv.x86.decode, hv.x86.modrm):
# hand-checked encodings of every form, the faults the architecture defines,
# and a corpus of thousands of encodings in 16-, 32- and 64-bit code checked
# against GNU objdump (length, mnemonic, widths, registers, addressing).
import random

import pytest

from hv.x86 import alu
from hv.x86.decode import (Insn, decode, AH, F_READ, F_WRITE, F_RFLAGS, OP_STORE, OP_LOAD,
                           OP_MOVZX, OP_MOVSX, OP_ALU, OP_TEST, OP_XCHG, OP_MOVS, OP_STOS,
                           OP_LODS, OP_INS, OP_OUTS)
from hv.x86.fault import GuestFault, GP, UD
from hv.x86.insn import DecodeError
from hv.x86.modrm import ES, CS, SS, DS, FS, GS, Truncated
from objdump_ref import disassemble, memory_operand

H = bytes.fromhex


def dec(hexbytes, bits=64):
    d = Insn()
    n = decode(d, H(hexbytes), bits)
    assert n == d.length
    return d


# -- hand-checked encodings (SDM 2A instruction pages, Tables 2-1 to 2-3) ----

def test_mov_store_register_to_memory():
    d = dec("894810")                       # mov [rax+0x10], ecx
    assert (d.op, d.width, d.mwidth, d.reg, d.length) == (OP_STORE, 4, 4, 1, 3)
    assert (d.base, d.index, d.disp, d.seg, d.flags) == (0, -1, 0x10, DS, F_WRITE)
    assert not d.src_imm and d.mem and d.addr_bits == 64


def test_mov_load_with_rex_r_and_b():
    d = dec("4d8b4108")                     # mov r8, [r9+8]
    assert (d.op, d.width, d.reg, d.base, d.disp, d.flags) == (OP_LOAD, 8, 8, 9, 8, F_READ)


def test_byte_registers_high_and_rex():
    assert dec("882490").reg == AH          # mov [rax+rdx*4], ah
    assert dec("40882490").reg == 4         # the same with REX: spl
    assert dec("448820").reg == 12          # REX.R: r12b
    assert dec("8a7b01", 32).reg == AH + 3  # mov bh, [ebx+1]


def test_operand_size_prefix_and_rex_w():
    assert dec("66894810").width == 2
    assert dec("48894810").width == 8
    assert dec("6648894810").width == 8     # REX.W wins over 66
    assert dec("4866894810").width == 2     # a REX before a legacy prefix is ignored
    assert dec("894810", 32).width == 4
    assert dec("66894810", 32).width == 2
    assert dec("894810", 16).width == 2
    assert dec("66894810", 16).width == 4


def test_sib_forms():
    d = dec("8b0498")                       # mov eax, [rax+rbx*4]
    assert (d.base, d.index, d.scale, d.disp) == (0, 3, 2, 0)
    d = dec("8b042500100000")               # mov eax, [0x1000]: no base, no index
    assert (d.base, d.index, d.disp, d.riprel, d.length) == (-1, -1, 0x1000, False, 7)
    d = dec("8b0424")                       # [rsp]: index 100b = none, SS default
    assert (d.base, d.index, d.seg) == (4, -1, SS)
    d = dec("428b0424")                     # REX.X: index 12 = r12 exists
    assert (d.base, d.index, d.scale) == (4, 12, 0)
    d = dec("438b44a500")                   # [r13+r12*4+0]: base 101b with mod 01
    assert (d.base, d.index, d.scale, d.disp, d.length) == (13, 12, 2, 0, 5)
    d = dec("438b04e5f0ffffff")             # base 101b, mod 00: disp32, REX.B ignored
    assert (d.base, d.index, d.scale, d.disp) == (-1, 12, 3, -16)
    d = dec("418b04e5f0ffffff")             # index 100b without REX.X: none
    assert (d.base, d.index, d.disp) == (-1, -1, -16)
    d = dec("8b4c24fc")                     # [rsp-4]: disp8 sign-extended
    assert (d.base, d.disp) == (4, -4)


def test_rip_relative_only_in_64_bit_code():
    d = dec("8b0510000000")
    assert d.riprel and d.base == -1 and d.disp == 0x10 and d.length == 6
    d = dec("418b0510000000")               # r13 with mod 00 is still RIP-relative
    assert d.riprel and d.base == -1
    d = dec("8b0510000000", 32)
    assert not d.riprel and d.disp == 0x10  # absolute disp32 outside 64-bit mode
    d = dec("678b0510000000")               # EIP-relative: address size 32
    assert d.riprel and d.addr_bits == 32


def test_16_bit_addressing():
    rows = {"00": (3, 6), "01": (3, 7), "02": (5, 6), "03": (5, 7),
            "04": (6, -1), "05": (7, -1), "07": (3, -1)}
    for rm, (base, index) in rows.items():
        d = dec("8b" + rm, 16)
        assert (d.base, d.index, d.disp, d.length) == (base, index, 0, 2), rm
    d = dec("8b063412", 16)                 # mod 00 r/m 110: disp16, no base
    assert (d.base, d.disp, d.seg, d.length) == (-1, 0x1234, DS, 4)
    d = dec("8b46fe", 16)                   # [bp-2]: SS by default
    assert (d.base, d.disp, d.seg) == (5, -2, SS)
    d = dec("8b833412", 16)                 # [bp+di+0x1234] mod 10: disp16
    assert (d.base, d.index, d.disp, d.seg, d.length) == (5, 7, 0x1234, SS, 4)
    d = dec("678b0498", 16)                 # 67: 32-bit addressing with SIB
    assert (d.addr_bits, d.base, d.index, d.scale) == (32, 0, 3, 2)


def test_segment_overrides():
    assert dec("648b00").seg == FS
    assert dec("658b00").seg == GS
    assert dec("268b00", 32).seg == ES
    assert dec("2e8b00", 32).seg == CS
    assert dec("368b00", 32).seg == SS
    assert dec("3e8b4500", 32).seg == DS     # overrides the SS default of EBP
    assert dec("26648b00").seg == FS        # the last override counts


def test_mov_immediate():
    d = dec("c7401078563412")               # mov dword [rax+0x10], 0x12345678
    assert (d.op, d.imm, d.src_imm, d.width, d.length) == (OP_STORE, 0x12345678, True, 4, 7)
    d = dec("48c700ffffffff")               # mov qword [rax], -1: imm32 sign-extended
    assert (d.width, d.imm) == (8, (1 << 64) - 1)
    d = dec("66c7003412")
    assert (d.width, d.imm, d.length) == (2, 0x1234, 5)
    d = dec("c600ab")
    assert (d.width, d.imm, d.length) == (1, 0xAB, 3)


def test_moffs():
    d = dec("a11122334455667788")           # mov eax, [moffs64]
    assert (d.op, d.reg, d.width, d.disp, d.length) == (OP_LOAD, 0, 4, 0x8877665544332211, 9)
    d = dec("67a144332211")                 # 67: moffs32
    assert (d.disp, d.length) == (0x11223344, 6)
    d = dec("a2ddccbbaa", 32)               # mov [moffs32], al
    assert (d.op, d.width, d.disp, d.length) == (OP_STORE, 1, 0xAABBCCDD, 5)
    d = dec("a33412", 16)                   # mov [moffs16], ax
    assert (d.op, d.width, d.disp, d.length) == (OP_STORE, 2, 0x1234, 3)
    assert dec("48a31122334455667788").width == 8
    assert dec("64a11000000000000000").seg == FS


def test_movzx_movsx_movsxd():
    d = dec("0fb600")
    assert (d.op, d.width, d.mwidth, d.flags) == (OP_MOVZX, 4, 1, F_READ)
    d = dec("480fb708")
    assert (d.op, d.width, d.mwidth, d.reg) == (OP_MOVZX, 8, 2, 1)
    d = dec("660fbe00")
    assert (d.op, d.width, d.mwidth) == (OP_MOVSX, 2, 1)
    d = dec("4c0fbf00")
    assert (d.op, d.width, d.mwidth, d.reg) == (OP_MOVSX, 8, 2, 8)
    d = dec("486307")                       # movsxd rax, [rdi]
    assert (d.op, d.width, d.mwidth) == (OP_MOVSX, 8, 4)
    assert (dec("6307").width, dec("6307").mwidth) == (4, 4)
    assert (dec("666307").width, dec("666307").mwidth) == (2, 2)


def test_alu_forms():
    for k, name in enumerate(alu.NAMES):
        d = dec("%02x08" % (8 * k + 1))         # op [rax], ecx
        assert (d.op, d.alu, d.to_mem, d.reg, d.width) == (OP_ALU, k, True, 1, 4), name
        write = F_WRITE if k != alu.CMP else 0
        assert d.flags == F_READ | F_RFLAGS | write, name
        d = dec("%02x08" % (8 * k + 2))         # op cl, [rax]
        assert (d.alu, d.to_mem, d.width, d.flags) == (k, False, 1, F_READ | F_RFLAGS), name
        d = dec("81%02x78563412" % (k << 3))    # op dword [rax], imm32
        assert (d.alu, d.imm, d.src_imm, d.length) == (k, 0x12345678, True, 6), name
    d = dec("4883087f")                     # or qword [rax], 0x7f
    assert (d.alu, d.width, d.imm) == (alu.OR, 8, 0x7F)
    d = dec("832880")                       # sub dword [rax], -128
    assert (d.alu, d.imm) == (alu.SUB, 0xFFFFFF80)
    d = dec("8020fe")                       # and byte [rax], 0xfe
    assert (d.alu, d.width, d.imm) == (alu.AND, 1, 0xFE)
    d = dec("6681083412")                   # or word [rax], imm16
    assert (d.width, d.imm, d.length) == (2, 0x1234, 5)
    d = dec("820801", 32)                   # 82 = 80 outside 64-bit mode
    assert (d.alu, d.width, d.imm) == (alu.OR, 1, 1)


def test_test_and_xchg():
    d = dec("8508")
    assert (d.op, d.reg, d.flags) == (OP_TEST, 1, F_READ | F_RFLAGS)
    d = dec("f70001020304")
    assert (d.op, d.imm, d.src_imm, d.length) == (OP_TEST, 0x04030201, True, 6)
    d = dec("48f70000000080")               # imm32 sign-extended to 64
    assert d.imm == 0xFFFFFFFF80000000
    d = dec("f60040")
    assert (d.width, d.imm, d.length) == (1, 0x40, 3)
    d = dec("8708")
    assert (d.op, d.reg, d.flags) == (OP_XCHG, 1, F_READ | F_WRITE)
    assert dec("408630").reg == 6           # xchg [rax], sil


def test_string_forms():
    d = dec("f348a5")                       # rep movsq
    assert (d.op, d.width, d.rep, d.seg, d.length) == (OP_MOVS, 8, True, DS, 3)
    d = dec("64a4")
    assert (d.op, d.width, d.seg, d.rep) == (OP_MOVS, 1, FS, False)
    d = dec("26aa")                         # STOS ignores overrides: ES:rDI
    assert (d.op, d.seg, d.reg) == (OP_STOS, ES, 0)
    d = dec("67ab")
    assert (d.op, d.addr_bits, d.width) == (OP_STOS, 32, 4)
    d = dec("66ad", 32)
    assert (d.op, d.width, d.addr_bits) == (OP_LODS, 2, 32)
    d = dec("f2a5", 16)                     # F2 on MOVS repeats too
    assert (d.op, d.width, d.rep, d.addr_bits) == (OP_MOVS, 2, True, 16)


def test_ins_outs():
    d = dec("f36c")
    assert (d.op, d.width, d.rep, d.seg, d.flags) == (OP_INS, 1, True, ES, F_WRITE)
    assert dec("266d").seg == ES            # INS always writes ES
    assert dec("486d").width == 4           # REX.W does not make a 64-bit INS
    assert dec("666f").width == 2
    d = dec("2e6e", 32)
    assert (d.op, d.seg, d.width, d.flags) == (OP_OUTS, CS, 1, F_READ)
    assert dec("676f", 16).addr_bits == 32


def test_register_forms_have_no_memory_operand():
    d = dec("89c8")                         # mov eax, ecx
    assert not d.mem and d.rm == 0 and d.reg == 1
    d = dec("88e0")                         # mov al, ah
    assert not d.mem and d.rm == 0 and d.reg == AH
    d = dec("8ae0")                         # mov ah, al
    assert not d.mem and d.rm == 0 and d.reg == AH
    d = dec("8ac4")                         # mov al, ah
    assert not d.mem and d.rm == AH and d.reg == 0
    assert dec("4188c0").rm == 8            # REX.B: r8b


def test_set_string_io_from_exit_information():
    d = Insn()
    d.set_string_io(False, 2, True, 32, FS, 3, 64)
    assert (d.op, d.width, d.rep, d.addr_bits, d.seg, d.length, d.bits) == \
        (OP_OUTS, 2, True, 32, FS, 3, 64)
    d.set_string_io(True, 4, False, 16, FS, 1, 16)
    assert (d.op, d.seg, d.rep) == (OP_INS, ES, False)


# -- faults and refusals --------------------------------------------------------

def fault(hexbytes, bits=64):
    with pytest.raises(GuestFault) as e:
        decode(Insn(), H(hexbytes), bits)
    return e.value.vector, e.value.error_code


@pytest.mark.parametrize("code", ["f08900", "f08b00", "f03900", "f08500", "f0c60001",
                                  "f00fb600", "f0a5", "f001c0", "f087c0"])
def test_lock_outside_read_modify_write_memory_is_ud(code):
    assert fault(code) == (UD, None)


def test_lock_on_read_modify_write_is_accepted():
    assert dec("f00908").lock
    assert dec("f0830801").lock
    assert dec("f08708").lock


@pytest.mark.parametrize("code", ["c60801", "c7480800000000", "0f0b", "0fb900", "0fff00"])
def test_undefined_encodings_are_ud(code):
    assert fault(code) == (UD, None)


@pytest.mark.parametrize("op", ["06", "07", "0e", "16", "17", "1e", "1f", "27", "2f", "37",
                                "3f", "60", "61", "820801", "9a", "ce", "d4", "d5", "d6", "ea"])
def test_opcodes_invalid_in_64_bit_mode_are_ud(op):
    assert fault(op, 64) == (UD, None)


def test_longer_than_15_bytes_is_gp():
    assert fault("66" * 14 + "8900") == (GP, 0)           # 16 bytes
    assert fault("66" * 15) == (GP, 0)                    # no opcode within 15
    assert fault("66" * 12 + "c7000102", 32) == (GP, 0)   # the immediate is byte 16
    assert fault("66" * 13 + "c7000102" + "ffff", 32) == (GP, 0)


def test_exactly_15_bytes_decodes():
    assert dec("66" * 10 + "c7000102", 32).length == 14
    assert dec("66" * 11 + "c7000102", 32).length == 15
    d = dec("2e" "64" "67" "48" "c78424" "10000000" "01000000")   # 15 bytes in 64-bit code
    assert (d.length, d.width, d.seg, d.addr_bits, d.disp, d.imm) == (15, 8, FS, 32, 0x10, 1)


def test_truncated_buffers_ask_for_more():
    with pytest.raises(Truncated):
        decode(Insn(), H("8b05100000"), 64)                 # disp32 cut short
    with pytest.raises(Truncated):
        decode(Insn(), H("66"), 64)
    with pytest.raises(Truncated):
        decode(Insn(), H("c7401078"), 64)                   # imm32 cut short
    with pytest.raises(Truncated):
        decode(Insn(), b"", 64)


@pytest.mark.parametrize("code,bits", [("f710", 64), ("f618", 64), ("fe00", 64), ("ff00", 64),
                                       ("0fa300", 64), ("8c00", 64), ("c5f877", 64),
                                       ("6300", 32), ("4000", 32), ("0f1000", 64),
                                       ("f608", 64), ("c6f801", 64)])
def test_valid_instructions_not_emulated_are_decode_errors(code, bits):
    with pytest.raises(DecodeError) as e:
        decode(Insn(), H(code), bits)
    assert not isinstance(e.value, Truncated)
    assert "not an instruction the MMIO emulator handles" in str(e.value)


# -- objdump as the reference ---------------------------------------------------

_REG = {8: ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"] + ["r%d" % k for k in range(8, 16)],
        4: ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"] + ["r%dd" % k for k in range(8, 16)],
        2: ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"] + ["r%dw" % k for k in range(8, 16)],
        1: ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil"] + ["r%db" % k for k in range(8, 16)]}
_HIGH = ["ah", "ch", "dh", "bh"]
_SEGNAME = ["es", "cs", "ss", "ds", "fs", "gs"]
_MNEMONICS = {OP_STORE: ("mov", "movabs"), OP_LOAD: ("mov", "movabs"), OP_MOVZX: ("movzx",),
              OP_MOVSX: ("movsx", "movsxd"), OP_TEST: ("test",), OP_XCHG: ("xchg",),
              OP_MOVS: ("movs",), OP_STOS: ("stos",), OP_LODS: ("lods",), OP_INS: ("ins",),
              OP_OUTS: ("outs",)}


def _reg(r, w):
    return _HIGH[r - AH] if r >= AH else _REG[w][r]


def _check_memory(d, text, movsxd16, where):
    mem = memory_operand(text)
    assert mem is not None, "%s: objdump's %r is not a memory operand" % (where, text)
    size, seg, base, index, scale, disp = mem
    if movsxd16:
        # 66 63: SDM 2A MOVSXD lists "MOVSXD r16, r/m16"; objdump prints a
        # dword operand. We follow the SDM; the difference is asserted.
        assert size == 4, where
    elif d.op in (OP_LOAD, OP_STORE) and d.base < 0 and d.index < 0 and not d.riprel \
            and size is None:
        assert text.split(":")[-1].startswith("0x"), where     # moffs: no PTR
    else:
        assert size == d.mwidth, where
    am = (1 << d.addr_bits) - 1
    names = _REG[d.addr_bits // 8]
    if d.riprel:
        assert base == ("rip" if d.addr_bits == 64 else "eip"), where
    else:
        assert base == (names[d.base] if d.base >= 0 else None), where
    assert index == (names[d.index] if d.index >= 0 else None), where
    if d.index >= 0:
        assert scale == d.scale, where
    assert disp & am == d.disp & am, where
    return seg


def _check_segment(d, seg, seg_shown, bits, where):
    # objdump names an override outside 64-bit mode (and ds: for absolute
    # addresses); in 64-bit mode only FS and GS have a base, so only they show.
    if bits == 64:
        if d_seg_is_fs_gs(seg):
            assert seg_shown == _SEGNAME[seg], where
        else:
            assert seg_shown in (None, "ds", "es"), where
    elif seg_shown is not None:
        assert seg_shown == _SEGNAME[seg], where
    else:
        assert seg == (SS if d.base in (4, 5) and d.addr_bits != 16 or
                       d.addr_bits == 16 and d.base == 5 else DS), where


def d_seg_is_fs_gs(seg):
    return seg in (FS, GS)


def check_against_objdump(d, x, code, bits):
    where = "%s (%d-bit): objdump %r, decoded %r" % (code.hex(), bits, x.text, d)
    assert x.length == d.length, where
    ops = x.operands
    if d.op == OP_ALU:
        assert x.mnemonic == alu.NAMES[d.alu], where
    else:
        assert x.mnemonic in _MNEMONICS[d.op], where
    if d.op >= OP_MOVS:                     # string forms: widths, address registers, segments
        names = _REG[d.addr_bits // 8]
        dst = ["BYTE", "WORD", "DWORD", None, "QWORD"][d.width // 2 if d.width > 1 else 0]
        si = "%s PTR %s:[%s]" % (dst, _SEGNAME[d.seg] if bits != 64 or d.seg >= FS else "ds", names[6])
        di = "%s PTR es:[%s]" % (dst, names[7])
        acc = _REG[d.width][0]
        want = {OP_MOVS: [di, si], OP_STOS: [di, acc], OP_LODS: [acc, si],
                OP_INS: [di, "dx"], OP_OUTS: ["dx", si]}[d.op]
        assert ops == want, where
        return
    movsxd16 = x.mnemonic == "movsxd" and d.op == OP_MOVSX and d.width == 2
    if not d.mem:
        rm = _reg(d.rm, 4 if movsxd16 else d.mwidth)    # see _check_memory
        assert rm in ops, where
        return
    imm_or_reg = None
    if d.op in (OP_LOAD, OP_MOVZX, OP_MOVSX) or d.op == OP_ALU and not d.to_mem:
        reg_text, mem_text = ops[0], ops[1]
        assert reg_text == _reg(d.reg, d.width), where
    else:
        mem_text, imm_or_reg = ops[0], ops[1]
        if d.src_imm:
            assert int(imm_or_reg, 16) & ((1 << (8 * d.width)) - 1) == d.imm, where
        else:
            assert imm_or_reg == _reg(d.reg, d.width), where
    seg_shown = _check_memory(d, mem_text, movsxd16, where)
    _check_segment(d, d.seg, seg_shown, bits, where)


# Forms with a ModRM byte: (opcode bytes, allowed reg-field values or None for any).
_MODRM_FORMS = ([(bytes([8 * k + j]), None) for k in range(8) for j in range(4)]
                + [(bytes([op]), None) for op in range(0x84, 0x8C)]
                + [(b"\x80", None), (b"\x81", None), (b"\x83", None),
                   (b"\xc6", (0,)), (b"\xc7", (0,)), (b"\xf6", (0,)), (b"\xf7", (0,))]
                + [(bytes([0x0F, op]), None) for op in (0xB6, 0xB7, 0xBE, 0xBF)])
_FORMS_64 = [(b"\x63", None)]
_FORMS_LEGACY = [(b"\x82", None)]
_PLAIN = [bytes([op]) for op in (0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xAA, 0xAB, 0xAC, 0xAD,
                                 0x6C, 0x6D, 0x6E, 0x6F)]
_SIBS = (0x00, 0x24, 0x25, 0x65, 0xE5, 0x98, 0x5D, 0x1C, 0xA4, 0xFF)
_LEGACY_PREFIXES = (0x66, 0x67, 0xF2, 0xF3, 0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65)


def _lockable(opcode, reg, modrm_byte):
    op = opcode[0]
    if modrm_byte >> 6 == 3 or len(opcode) != 1:
        return False
    if op < 0x40 and op & 7 < 2:
        return op >> 3 != 7
    if op in (0x80, 0x81, 0x83):
        return reg != 7
    return op in (0x86, 0x87)


def _forms(bits):
    return _MODRM_FORMS + (_FORMS_64 if bits == 64 else _FORMS_LEGACY)


def _systematic(bits, rng):
    out = []
    for opcode, regs in _forms(bits):
        for mod in range(4):
            for rm in range(8):
                reg = rng.choice(regs or range(8))
                m = mod << 6 | reg << 3 | rm
                sibs = _SIBS if rm == 4 and mod != 3 and bits != 16 else (None,)
                for sib in sibs:
                    body = opcode + bytes([m]) + (bytes([sib]) if sib is not None else b"")
                    out.append(body + bytes(rng.randrange(256) for _ in range(8)))
    for opcode in _PLAIN:
        out.append(opcode + bytes(rng.randrange(256) for _ in range(8)))
    return out


def _random(bits, rng, count):
    out = []
    for _ in range(count):
        forms = _forms(bits)
        if rng.random() < 0.15:
            opcode, regs = rng.choice(_PLAIN), ()
        else:
            opcode, regs = rng.choice(forms)
        prefixes = [rng.choice(_LEGACY_PREFIXES) for _ in range(rng.randrange(4))]
        body = bytearray(opcode)
        if regs != ():
            reg = rng.choice(regs or range(8))
            m = rng.randrange(256) & ~0x38 | reg << 3
            body += bytes([m, rng.randrange(256)])
            if rng.random() < 0.3 and _lockable(opcode, reg, m):
                prefixes.insert(rng.randrange(len(prefixes) + 1), 0xF0)
        if bits == 64 and rng.random() < 0.6:
            rex = 0x40 | rng.randrange(16)
            pos = len(prefixes) if rng.random() < 0.85 else rng.randrange(len(prefixes) + 1)
            prefixes.insert(pos, rex)
        out.append(bytes(prefixes) + bytes(body) + bytes(rng.randrange(256) for _ in range(8)))
    return out


def without_ignored_rex(code, bits):
    """The same instruction without the REX bytes that a later legacy prefix
    makes ignored (SDM 2A 2.2.1). objdump also drops the legacy prefixes
    before such a REX (it prints 'data16 rex.B ss mov DWORD PTR [rax]' for
    66 41 36 89 00), where the SDM and KVM's emulator keep them; so the
    operands are compared on these equivalent bytes, the length on both."""
    if bits != 64:
        return code
    out = bytearray()
    for k, b in enumerate(code):
        if 0x40 <= b <= 0x4F and k + 1 < len(code) and code[k + 1] in _LEGACY_PREFIXES + (0xF0,):
            continue
        out.append(b)
        if b not in _LEGACY_PREFIXES + (0xF0,) and not 0x40 <= b <= 0x4F:
            out += code[k + 1:]
            break
    return bytes(out)


def _size_prefix_before_ignored_rex(code):
    # objdump then decodes a different operand or address size (see above).
    k = 0
    while k < len(code) and (code[k] in _LEGACY_PREFIXES + (0xF0,) or 0x40 <= code[k] <= 0x4F):
        k += 1
    last_rex = max((j for j in range(k) if 0x40 <= code[j] <= 0x4F and j != k - 1), default=-1)
    return any(code[j] in (0x66, 0x67) for j in range(last_rex))


@pytest.mark.parametrize("bits", [16, 32, 64])
def test_lengths_and_operands_agree_with_objdump(bits):
    rng = random.Random(1300 + bits)
    corpus = _systematic(bits, rng) + _random(bits, rng, 4000)
    decoded = []
    for code in corpus:
        d = Insn()
        n = decode(d, code[:15], bits)
        decoded.append((code[:n], d))
    raw = disassemble([c for c, _ in decoded], bits)
    same = disassemble([without_ignored_rex(c, bits) for c, _ in decoded], bits)
    assert len(raw) == len(same) == len(decoded) > 4000
    dropped = 0
    for (code, d), x, y in zip(decoded, raw, same):
        canon = without_ignored_rex(code, bits)
        dropped += canon != code
        if canon == code or not _size_prefix_before_ignored_rex(code):
            assert x.length == d.length, "%s: objdump %r, decoded %r" % (code.hex(), x.text, d)
        d2 = Insn()
        decode(d2, canon, bits)
        assert d2.length == len(canon) and d2.length == d.length - (len(code) - len(canon))
        check_against_objdump(d2, y, canon, bits)
        for f in ("op", "alu", "width", "mwidth", "reg", "rm", "imm", "base", "index", "scale",
                  "disp", "riprel", "seg", "rep", "lock", "addr_bits", "flags"):
            assert getattr(d, f) == getattr(d2, f), (code.hex(), f)
    assert bits != 64 or dropped > 100       # the corpus has ignored REX bytes
