# Host tests for vm.load_multiboot and vm.load_flat (hv.loader.kernel) over the fake
# SVM natives: segments in guest RAM with their bss zeroed, the information
# structure where EBX points, the multiboot machine state, a malformed image
# leaving the VM untouched, and raw binaries in each mode.
import struct

import pytest

import multiboot
from hv.loader import mbload
from hv.x86.regs import RAX, RBX
from hv.vcpu.svm import percpu, vmcb as V
from svm_fakes import MiB, Machine
from test_mbload import aout, elf64


@pytest.fixture(autouse=True)
def _fresh_percpu():
    percpu._owner.state = None
    yield
    percpu._owner.state = None


def test_multiboot_kernel_in_ram_with_info_and_machine_state():
    m = Machine()
    vm = m.vm(8 * MiB)
    vm.write(0x100000, b"\xcc" * 0x4000)              # stale bytes where the bss goes
    image = aout(code=b"\x90" * 100, bss=0x2000)
    c = vm.load_multiboot(image, "root=/dev/x quiet")
    assert vm.read(0x100000, len(image)) == image
    assert vm.read(0x100000 + len(image), 0x2000) == bytes(0x2000)
    assert vm.read(0x100000 + len(image) + 0x2000, 4) == b"\xcc" * 4   # no further
    assert c.get_gpr(RAX) == 0x2BADB002 and c.get_gpr(RBX) == mbload.INFO_BASE
    assert c.rip == 0x100020 and c.rflags == 0x2                      # IF = 0 (spec 3.2)
    v = c.vmcb
    assert v.get(V.CR0) & 0x80000001 == 1                             # PE on, paging off
    for seg in (V.CS, V.SS, V.DS, V.ES, V.FS, V.GS):                  # flat 32-bit segments
        selector, base, limit, attrib = v.segment(seg)
        assert base == 0 and limit == 0xFFFFFFFF and attrib & 0x400, hex(seg)
    info = multiboot.BootInfo(c.get_gpr(RBX), vm.read)
    assert info.cmdline == "root=/dev/x quiet" and info.loader_name == "mpvisor"
    assert info.mem_lower == 639 and info.mem_upper == 7 * 1024
    assert info.memory_map[-1] == (0x100000, 7 * MiB, multiboot.AVAILABLE)
    assert vm.kernel.kind == "a.out-kludge" and vm.kernel.info_gpa == mbload.INFO_BASE
    vm.close()


def test_elf64_segments_and_entry():
    m = Machine()
    vm = m.vm(8 * MiB)
    image = elf64([(0x100000, b"\xf4" * 16, 0x1000), (0x200000, b"data", 0x3000)], 0x10000C)
    c = vm.load_multiboot(image)
    assert c.rip == 0x10000C and vm.read(0x200000, 4) == b"data"
    assert vm.read(0x100000, 4) == struct.pack("<I", 0x1BADB002)
    vm.close()


@pytest.mark.parametrize("image, message", [
    (b"\x00" * 4096, "no multiboot header"),
    (aout()[:8] + b"\x00" + aout()[9:], "bad checksum"),
    (aout(load=0x700000, bss=0x200000), "outside guest RAM"),
    (aout()[:60], "truncated"),
])
def test_malformed_image_leaves_the_vm_untouched(image, message):
    m = Machine()
    vm = m.vm(8 * MiB)
    with pytest.raises(mbload.ImageError, match=message):
        vm.load_multiboot(image)
    assert vm.vcpus == [] and vm.owned_frames() == 0 and vm.kernel is None
    vm.close()


def test_boot_sector_in_real_mode():
    m = Machine()
    vm = m.vm(1 * MiB)
    c = vm.load_flat(b"\xf4" * 512, 0x7C00, 0x7C00, "real")
    assert c.vmcb.segment(V.CS)[:2] == (0, 0) and c.rip == 0x7C00
    assert c.vmcb.get(V.CR0) & 1 == 0 and vm.read(0x7C00, 2) == b"\xf4\xf4"
    vm.close()


@pytest.mark.parametrize("args, message", [
    ((b"x" * 16, 0xFFFF8, 0xFFFF8, "real"), "outside guest RAM"),
    ((b"x" * 16, 0x10000, 0x20000, "long"), "entry 0x20000 is outside"),
    ((b"x" * 16, 0x2000, 0x2000, "long"), "overlaps the tables setup"),
    ((b"x" * 16, 0x10000, 0x10000, "v86"), "mode must be"),
    ((b"x" * 16, 0x100000, 0x100000, "real"), "below 1 MiB"),
])
def test_flat_load_errors(args, message):
    m = Machine()
    vm = m.vm(1 * MiB if args[3] != "real" or args[1] < 0x100000 else 2 * MiB)
    with pytest.raises(ValueError, match=message):
        vm.load_flat(*args)
    assert vm.vcpus == []
    vm.close()


def test_flat_long_mode_code_beside_the_tables():
    m = Machine()
    vm = m.vm(16 * MiB)
    c = vm.load_flat(b"\xf4", 0x10000, 0x10000, "long")
    assert c.long_mode() and c.rip == 0x10000
    vm.close()
