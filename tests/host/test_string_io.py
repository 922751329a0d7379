# Host tests of string I/O (hv.x86.string_io) over a fake vCPU, and of the
# two exit decoders that describe an INS/OUTS without its bytes: SVM IOIO
# EXITINFO1 (APM2 15.10.2) and the VMX I/O exit qualification with the
# VM-exit instruction information (SDM 3C Tables 28-5 and 28-8).
import pytest

from hv.x86 import alu
from hv.x86.decode import Insn, decode, OP_INS, OP_OUTS
from hv.x86.fault import GuestFault, PF
from hv.x86.insn import DecodeError
from hv.x86.modrm import ES, CS, SS, DS, FS, GS
from hv.x86.regs import RCX, RSI, RDI
from hv.x86.string_io import run
from hv.vcpu.svm import defs as svm
from hv.vcpu.vmx import defs as vmx
from bochs_vmx_msrs import BOCHS_MSRS as BOCHS_VMX_MSRS
from x86_fake import FakeCpu

PORT = 0x3F8


def insn(code, bits=64):
    d = Insn()
    decode(d, bytes.fromhex(code), bits)
    return d


def cpu_with(bits=64, **regs):
    cpu = FakeCpu(bits)
    for name, v in regs.items():
        if name == "rflags":
            cpu.rflags = v
        else:
            cpu.gprs[{"rcx": RCX, "rsi": RSI, "rdi": RDI}[name]] = v
    return cpu


def test_outsb_once():
    cpu = cpu_with(rsi=0x9000, rcx=7)
    cpu.put_ram(0x9000, b"A")
    assert run(insn("6e"), PORT, cpu) is None
    assert cpu.io_log == [("out", PORT, 1, 0x41)]
    assert (cpu.gprs[RSI], cpu.gprs[RCX], cpu.rip) == (0x9001, 7, 0x1001)


def test_rep_outsw_down_with_fs_and_32_bit_addresses():
    cpu = cpu_with(rsi=0xFFFFFFFF00000104, rcx=0xFFFFFFFF00000003, rflags=0x2 | alu.DF)
    cpu.bases[FS] = 0x20000
    cpu.put_ram(0x20100, bytes.fromhex("11112222 3333"))
    d = insn("6764f3666f")                  # rep outsw dx, fs:[esi], 32-bit addressing
    assert run(d, PORT, cpu) is None
    assert [e[3] for e in cpu.io_log] == [0x3333, 0x2222, 0x1111]
    assert all(e[2] == 2 for e in cpu.io_log)
    assert (cpu.gprs[RSI], cpu.gprs[RCX], cpu.rip) == (0xFE, 0, 0x1000 + 5)


def test_rep_insd_into_ram():
    cpu = cpu_with(rdi=0x8000, rcx=3)
    cpu.ports[0x1F0] = [0x11223344, 0x55667788, 0x99AABBCC]
    assert run(insn("f36d"), 0x1F0, cpu) is None
    assert cpu.ram_bytes(0x8000, 12) == bytes.fromhex("44332211 88776655 ccbbaa99")
    assert (cpu.gprs[RDI], cpu.gprs[RCX], cpu.rip) == (0x800C, 0, 0x1002)


def test_ins_writes_es_whatever_the_override():
    cpu = cpu_with(bits=32, rdi=0x10)
    cpu.bases[ES], cpu.bases[DS], cpu.bases[FS] = 0x5000, 0x6000, 0x7000
    cpu.ports[PORT] = [0xAB]
    run(insn("646c", 32), PORT, cpu)
    assert cpu.ram_bytes(0x5010, 1) == b"\xab"
    d = Insn()
    d.set_string_io(True, 1, False, 32, FS, 2, 32)
    cpu.ports[PORT] = [0xCD]
    run(d, PORT, cpu)
    assert cpu.ram_bytes(0x5011, 1) == b"\xcd"


def test_16_bit_addresses_wrap_and_keep_the_upper_bits():
    cpu = cpu_with(bits=16, rsi=0x1234FFFF, rcx=0xAAAA0002)
    cpu.bases[DS] = 0x10000
    cpu.put_ram(0x1FFFF, b"\x01")
    cpu.put_ram(0x10000, b"\x02")
    run(insn("f36e", 16), PORT, cpu)
    assert [e[3] for e in cpu.io_log] == [1, 2]
    assert (cpu.gprs[RSI], cpu.gprs[RCX], cpu.rip) == (0x12340001, 0xAAAA0000, 0x1002)


def test_zero_count_only_steps_rip():
    cpu = cpu_with(rcx=0xFFFFFFFF00000000)
    run(insn("67f36e"), PORT, cpu)          # ECX = 0 under 32-bit addressing
    assert cpu.io_log == [] and cpu.rip == 0x1003


def test_huge_rep_is_bounded_per_call_and_resumes():
    cpu = cpu_with(rdi=0, rcx=10000)
    cpu.ports[PORT] = list(range(10000))
    d = insn("f36c")
    run(d, PORT, cpu)
    assert len(cpu.io_log) == 4096          # STRING_BYTES of data
    assert (cpu.gprs[RCX], cpu.gprs[RDI], cpu.rip) == (10000 - 4096, 4096, 0x1000)
    run(d, PORT, cpu, limit=10)
    assert (cpu.gprs[RCX], cpu.rip) == (10000 - 4106, 0x1000)
    while cpu.rip == 0x1000:
        run(d, PORT, cpu)
    assert cpu.gprs[RCX] == 0 and cpu.rip == 0x1002 and len(cpu.io_log) == 10000
    assert cpu.ram_bytes(0, 4) == bytes([0, 1, 2, 3]) and cpu.ram_bytes(9999, 1) == bytes([9999 & 0xFF])
    cpu = cpu_with(rdi=0, rcx=5000)
    cpu.ports[PORT] = list(range(5000))
    run(insn("f36d"), PORT, cpu)
    assert len(cpu.io_log) == 1024          # 4096 bytes of dwords


def test_a_write_handler_ending_the_run_stops_after_its_element():
    cpu = cpu_with(rsi=0x9000, rcx=5)
    cpu.out_result = "poweroff"
    assert run(insn("f36e"), PORT, cpu) == "poweroff"
    assert len(cpu.io_log) == 1
    assert (cpu.gprs[RSI], cpu.gprs[RCX], cpu.rip) == (0x9001, 4, 0x1000)
    cpu = cpu_with(rsi=0x9000, rcx=1)
    cpu.out_result = "poweroff"
    assert run(insn("f36e"), PORT, cpu) == "poweroff"
    assert cpu.rip == 0x1002                # that was the last element: complete


def test_ins_faults_before_reading_the_port():
    cpu = cpu_with(rdi=0x40000FFF, rcx=3)
    cpu.pages = {0x40000: 0x8}
    cpu.ports[PORT] = [1, 2, 3]
    with pytest.raises(GuestFault) as e:
        run(insn("f36c"), PORT, cpu)
    assert (e.value.vector, e.value.cr2) == (PF, 0x40001000)
    assert cpu.ports[PORT] == [2, 3]        # one element done, none read for the fault
    assert (cpu.gprs[RDI], cpu.gprs[RCX], cpu.rip) == (0x40001000, 2, 0x1000)
    cpu = cpu_with(rdi=0x40000FFF)          # a word across into the unmapped page
    cpu.pages = {0x40000: 0x8}
    cpu.ports[PORT] = [0xBEEF]
    with pytest.raises(GuestFault):
        run(insn("666d"), PORT, cpu)
    assert cpu.ports[PORT] == [0xBEEF] and cpu.rip == 0x1000


def test_outs_across_a_page_reads_both_pages():
    cpu = cpu_with(rsi=0x40000FFE)
    cpu.pages = {0x40000: 0x8, 0x40001: 0x3}
    cpu.put_ram(0x8FFE, b"\x11\x22")
    cpu.put_ram(0x3000, b"\x33\x44")
    run(insn("6f"), PORT, cpu)
    assert cpu.io_log == [("out", PORT, 4, 0x44332211)]


def test_refuses_what_is_not_string_io():
    with pytest.raises(DecodeError):
        run(insn("a4"), PORT, cpu_with())
    d = Insn()
    d.set_string_io(False, 1, False, 128, DS, 1, 64)
    with pytest.raises(DecodeError):
        run(d, PORT, cpu_with())


# -- exit decoders -------------------------------------------------------------

def test_svm_ioio_string_fields():
    # rep outsb, port 0x3F8, SZ8, A32, SEG = FS (APM2 Figure 15-2 bit layout).
    info1 = 0x3F8 << 16 | 4 << 10 | 1 << 8 | 1 << 4 | 1 << 3 | 1 << 2
    assert svm.decode_ioio(info1) == (0x3F8, 1, False, True, True)
    assert svm.ioio_addr_bits(info1) == 32
    assert svm.ioio_seg(info1) == FS
    assert svm.ioio_addr_bits(1 << 7) == 16 and svm.ioio_addr_bits(1 << 9) == 64
    assert svm.ioio_addr_bits(0x3F8 << 16 | 1 << 4 | 1 << 2) == 0     # as QEMU TCG reports
    for seg in (ES, CS, SS, DS, FS, GS):
        assert svm.ioio_seg(seg << 10 | 0x1F0 << 16 | 0x7F) == seg


def test_svm_exit_drives_string_io():
    info1 = 0x1F0 << 16 | 1 << 9 | 1 << 5 | 1 << 3 | 1 << 2 | 1      # rep insw, A64
    port, width, is_in, is_str, is_rep = svm.decode_ioio(info1)
    d = Insn()
    d.set_string_io(is_in, width, is_rep, svm.ioio_addr_bits(info1), svm.ioio_seg(info1),
                    3, 64)                  # EXITINFO2 - RIP = 3 (f3 66 6d)
    cpu = cpu_with(rdi=0x8000, rcx=2)
    cpu.ports[0x1F0] = [0xAAAA, 0xBBBB]
    assert d.op == OP_INS
    run(d, port, cpu)
    assert cpu.ram_bytes(0x8000, 4) == bytes.fromhex("aaaabbbb")
    assert cpu.rip == 0x1003 and cpu.gprs[RCX] == 0


def test_vmx_io_instruction_information():
    # Table 28-8: address size in bits 9:7, segment in bits 17:15.
    for code, bits in ((0, 16), (1, 32), (2, 64)):
        assert vmx.io_info_addr_bits(code << 7 | 0x7F) == bits
    for seg in (ES, CS, SS, DS, FS, GS):
        assert vmx.io_info_seg(seg << 15 | 2 << 7) == seg
    assert BOCHS_VMX_MSRS[0x480] & vmx.BASIC_INS_OUTS_INFO         # Bochs fills it


def test_vmx_exit_drives_string_io():
    qual = 0x3F8 << 16 | 1 << 5 | 1 << 4 | 0 << 3 | 3               # rep outsd, DX
    port, width, is_in, is_str, is_rep, imm = vmx.decode_io(qual)
    info = 1 << 7 | GS << 15                                        # 32-bit addresses, GS
    d = Insn()
    d.set_string_io(is_in, width, is_rep, vmx.io_info_addr_bits(info), vmx.io_info_seg(info),
                    4, 64)                  # VM-exit instruction length
    assert (d.op, d.width, d.addr_bits, d.seg) == (OP_OUTS, 4, 32, GS)
    cpu = cpu_with(rsi=0x100, rcx=1)
    cpu.bases[GS] = 0x7000
    cpu.put_ram(0x7100, bytes.fromhex("efbeadde"))
    run(d, port, cpu)
    assert cpu.io_log == [("out", 0x3F8, 4, 0xDEADBEEF)] and cpu.rip == 0x1004


def test_decoded_and_reported_descriptions_agree():
    for code, bits in (("f3666f", 64), ("676d", 32), ("2ef36e", 16), ("65f3676f", 64)):
        a = insn(code, bits)
        b = Insn()
        b.set_string_io(a.op == OP_INS, a.width, a.rep, a.addr_bits, a.seg, a.length, bits)
        for f in ("op", "width", "rep", "addr_bits", "seg", "length", "bits"):
            assert getattr(a, f) == getattr(b, f), (code, f)
