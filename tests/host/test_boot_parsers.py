# Host tests for the pure boot-time parsers: multiboot information, the
# kernel command line, and VMX/SVM availability from CPUID and MSRs.
import struct

import pytest

import cmdline
import multiboot
from hv.host.cpu import CpuInfo
from hv.x86.msr import IA32_FEATURE_CONTROL, VM_CR


class FakePhys:
    """Sparse physical memory: only written ranges can be read."""

    def __init__(self):
        self.chunks = {}

    def put(self, addr, data):
        self.chunks[addr] = bytes(data)

    def read(self, addr, n):
        for base, data in self.chunks.items():
            if base <= addr and addr + n <= base + len(data) + 64:  # strings read 64-byte chunks
                return (data + bytes(64))[addr - base:addr - base + n]
        raise AssertionError("read of unwritten memory 0x%x+%d" % (addr, n))


def make_info(flags, cmdline_at=0, mods=(), mmap=(), loader_at=0, mem=(639, 260096)):
    info = bytearray(88)
    struct.pack_into("<7I", info, 0, flags, mem[0], mem[1], 0, cmdline_at, len(mods), 0x9000)
    mm = b"".join(struct.pack("<IQQI", 20, b, l, t) for b, l, t in mmap)
    struct.pack_into("<2I", info, 44, len(mm), 0xA000)
    struct.pack_into("<I", info, 64, loader_at)
    return bytes(info), mm


def test_multiboot_parses_everything_and_records_used_ranges():
    phys = FakePhys()
    info, mm = make_info(flags=(1 << 0) | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9),
                         cmdline_at=0x8000, mods=[1], loader_at=0x8100,
                         mmap=[(0, 0x9FC00, 1), (0x100000, 0xFEE0000, 1), (0xFFFC0000, 0x40000, 2)])
    phys.put(0x7000, info)
    phys.put(0x8000, b"/boot/mpvisor.elf run=demo vendor=amd\0")
    phys.put(0x8100, b"GRUB 2.06\0")
    phys.put(0x9000, struct.pack("<4I", 0x400000, 0x401234, 0x8200, 0))
    phys.put(0x8200, b"/boot/guest.elf verbose\0")
    phys.put(0xA000, mm)
    bi = multiboot.BootInfo(0x7000, phys.read)
    assert bi.cmdline == "/boot/mpvisor.elf run=demo vendor=amd"
    assert bi.loader_name == "GRUB 2.06"
    assert bi.memory_map == [(0, 0x9FC00, 1), (0x100000, 0xFEE0000, 1), (0xFFFC0000, 0x40000, 2)]
    assert len(bi.modules) == 1
    mod = bi.modules[0]
    assert (mod.start, mod.end, mod.cmdline, mod.name) == (0x400000, 0x401234, "/boot/guest.elf verbose", "/boot/guest.elf")
    assert bi.module("guest.elf") is mod and bi.module("nope") is None
    used = sorted(bi.used)
    for rng in [(0x7000, 0x7000 + 88), (0x8000, 0x8000 + len(bi.cmdline) + 1), (0x8100, 0x810A), (0x9000, 0x9010),
                (0x400000, 0x401234), (0xA000, 0xA000 + len(mm)), (0x8200, 0x8200 + 24)]:
        assert rng in used


def test_multiboot_without_optional_fields():
    phys = FakePhys()
    info, _ = make_info(flags=1 << 0, mem=(640, 1024))
    phys.put(0x7000, info)
    bi = multiboot.BootInfo(0x7000, phys.read)
    assert bi.cmdline == "" and bi.loader_name == "" and bi.modules == []
    assert bi.memory_map == [(0, 640 * 1024, 1), (0x100000, 1024 * 1024, 1)]


def test_memory_map_entry_size_field_is_honoured():
    # An entry "size" larger than 20 (allowed by the spec) must be skipped over.
    phys = FakePhys()
    info, _ = make_info(flags=1 << 6)
    mm = struct.pack("<IQQI4x", 24, 0x100000, 0x1000, 1) + struct.pack("<IQQI", 20, 0x200000, 0x2000, 2)
    info = bytearray(info)
    struct.pack_into("<2I", info, 44, len(mm), 0xA000)
    phys.put(0x7000, info)
    phys.put(0xA000, mm)
    assert multiboot.BootInfo(0x7000, phys.read).memory_map == [(0x100000, 0x1000, 1), (0x200000, 0x2000, 2)]


def test_format_memory_map_names_types():
    text = multiboot.format_memory_map([(0x100000, 0x100000, 1), (0xF0000, 0x10000, 2), (0, 4096, 9)])
    assert "available" in text and "reserved" in text and "type 9" in text and "1024 KiB" in text


def test_cmdline_parse():
    assert cmdline.parse("/boot/mpvisor.elf run=demo vendor=none quiet") == {
        "/boot/mpvisor.elf": True, "run": "demo", "vendor": "none", "quiet": True}
    assert cmdline.parse("") == {}
    assert cmdline.parse("a=b=c") == {"a": "b=c"}


def fake_cpu(vendor=b"GenuineIntel", vmx=False, svm=False, feature_control=0, vm_cr=0, np=True):
    def cpuid(leaf, sub=0):
        if leaf == 0:
            ebx, edx, ecx = struct.unpack("<3I", vendor)
            return (0x16, ebx, ecx, edx)
        if leaf == 1:
            return (0x50654, 0, (1 << 5) if vmx else 0, 0)
        if leaf == 0x80000000:
            return (0x8000000A, 0, 0, 0)
        if leaf == 0x80000001:
            return (0, 0, (1 << 2) if svm else 0, 0)
        if 0x80000002 <= leaf <= 0x80000004:
            text = b"Test CPU @ 1GHz".ljust(48, b"\0")[(leaf - 0x80000002) * 16:][:16]
            return struct.unpack("<4I", text)
        if leaf == 0x8000000A:
            return (1, 8, 0, (1 if np else 0) | (1 << 3))
        return (0, 0, 0, 0)

    def rdmsr(msr):
        if msr == IA32_FEATURE_CONTROL and vmx:
            return feature_control
        if msr == VM_CR and svm:
            return vm_cr
        raise AssertionError("rdmsr(0x%x) would #GP on this CPU" % msr)

    return CpuInfo(cpuid, rdmsr)


def test_intel_with_vmx_locked_on():
    c = fake_cpu(vmx=True, feature_control=0x5)
    assert c.vendor_id == "GenuineIntel" and c.model_name == "Test CPU @ 1GHz"
    assert (c.family, c.model, c.stepping) == (6, 0x55, 4)
    assert c.vmx[0] and not c.svm[0]
    assert c.vendor() == "intel"


def test_intel_vmx_disabled_by_firmware_has_a_reason():
    c = fake_cpu(vmx=True, feature_control=0x1)
    assert c.vendor() is None
    assert "disabled by firmware" in c.vmx[1] and "VT-x" in c.vmx[1]


def test_intel_vmx_unlocked_is_usable():
    assert fake_cpu(vmx=True, feature_control=0).vendor() == "intel"


def test_no_virtualization():
    c = fake_cpu()
    assert c.vendor() is None
    assert "not present" in c.vmx[1] and "not present" in c.svm[1]


def test_amd_svm_and_svmdis():
    assert fake_cpu(vendor=b"AuthenticAMD", svm=True).vendor() == "amd"
    assert "NPT" in fake_cpu(vendor=b"AuthenticAMD", svm=True).svm[1]
    locked = fake_cpu(vendor=b"AuthenticAMD", svm=True, vm_cr=0x18)
    assert locked.vendor() is None and "disabled by firmware" in locked.svm[1]
    unlocked = fake_cpu(vendor=b"AuthenticAMD", svm=True, vm_cr=0x10)
    assert unlocked.vendor() is None and "SVM_KEY" in unlocked.svm[1]


def test_forced_vendor():
    c = fake_cpu(vendor=b"AuthenticAMD", svm=True)
    assert c.vendor("amd") == "amd"
    assert c.vendor("intel") is None      # forced, but VMX is not usable here
    assert c.vendor("none") is None


def test_missing_msrs_are_reported_not_raised():
    # Bochs' ryzen has SVM but no VM_CR: rdmsr faults, given here as None.
    def cpuid(leaf, sub=0):
        return {0: (1, 0x68747541, 0x444D4163, 0x69746E65), 1: (0, 0, 1 << 5, 0),
                0x80000000: (0x8000000A, 0, 0, 0), 0x80000001: (0, 0, 1 << 2, 0),
                0x8000000A: (1, 8, 0, 9)}.get(leaf, (0, 0, 0, 0))
    c = CpuInfo(cpuid, lambda msr: None)
    assert c.svm == (True, "usable (NPT, NRIPS)")
    assert c.vmx[0] is False and "cannot be read" in c.vmx[1]
    assert c.vendor() == "amd"
