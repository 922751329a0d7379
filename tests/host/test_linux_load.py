# Host tests for vm.load_linux (hv.loader.linux) over the fake SVM and VMX
# natives: kernel, initrd, command line and boot_params in guest RAM, the
# machine state of the 64- and 32-bit boot protocols (__BOOT_CS/__BOOT_DS in
# a real GDT, RSI, paging), malformed images leaving the VM untouched and
# a load that runs out of frames leaving none behind once the VM closes.
import struct

import pytest

from bzimage_fakes import bzimage
from hv.host.frame import OutOfFrames
from hv.loader import linux
from hv.loader.mbload import ImageError
from hv.x86.guest_tables import descriptor
from hv.x86.regs import RBP, RBX, RDI, RSI
from hv.vcpu.svm import defs as svm_defs, percpu as svm_percpu, vmcb as V
from hv.vcpu.vmx import defs as vmx_defs, fields as F, percpu as vmx_percpu
import svm_fakes
import vmx_fakes

MiB = 1 << 20


@pytest.fixture(autouse=True)
def _fresh_percpu():
    svm_percpu._owner.state = vmx_percpu._owner.state = None
    yield
    svm_percpu._owner.state = vmx_percpu._owner.state = None


def gdt_entry(vm, gdtr_base, selector):
    return struct.unpack("<Q", vm.read(gdtr_base + selector, 8))[0]


def svm_state(c):
    v = c.vmcb
    segs = {n: v.segment(s) for n, s in V.SEGMENTS}
    return segs, v.get(V.CR0), v.get(V.CR3), v.get(V.EFER), segs["gdtr"][1:3]


def vmx_state(c):
    v = c._vmcs()
    segs = {s[0]: v.segment(s) for s in F.SEGMENTS}
    gdtr = (v.readn(F.GUEST_GDTR_BASE), v.read32(F.GUEST_GDTR_LIMIT))
    return segs, v.readn(F.GUEST_CR0), v.readn(F.GUEST_CR3), v.read64(F.GUEST_IA32_EFER), gdtr


BACKENDS = {
    "amd": (svm_fakes.Machine, svm_state, svm_defs.ATTR_CODE64, svm_defs.ATTR_CODE32,
            svm_defs.ATTR_DATA32, lambda a: a),
    "intel": (vmx_fakes.Machine, vmx_state, vmx_defs.AR_CODE64, vmx_defs.AR_CODE32,
              vmx_defs.AR_DATA32, lambda a: (a & 0xFF) | ((a >> 12) & 0xF) << 8),
}


@pytest.mark.parametrize("arch", sorted(BACKENDS))
def test_64_bit_boot_protocol_state(arch):
    machine, state, code64, _, data32, attr = BACKENDS[arch]
    m = machine()
    free = m.allocator.free_count()
    vm = m.vm(32 * MiB)
    image = bzimage(pref_address=0x400000, init_size=0x100000)
    initrd = b"070701" + bytes(range(256)) * 20
    c = vm.load_linux(image, initrd, "console=ttyS0 root=/dev/ram0")
    p = vm.kernel
    assert vm.read(0x400000, len(image) - 5 * 512) == image[5 * 512:]       # the protected-mode part
    assert vm.read(p.initrd_gpa, len(initrd)) == initrd and p.initrd_gpa + len(initrd) <= 32 * MiB
    assert vm.read(linux.CMDLINE, 30) == b"console=ttyS0 root=/dev/ram0\0\0"
    assert vm.read(linux.BOOT_PARAMS, 4096) == p.boot_params
    assert c.get_gpr(RSI) == linux.BOOT_PARAMS and c.rip == 0x400200 and c.rflags == 0x2
    segs, cr0, cr3, efer, (gdt_base, gdt_limit) = state(c)
    assert cr0 & 0x80000001 == 0x80000001 and efer & 0x500 == 0x500     # PE, PG; LME, LMA
    assert segs["cs"] == (0x10, 0, 0xFFFFFFFF, code64)
    for s in ("ds", "es", "ss"):
        assert segs[s] == (0x18, 0, 0xFFFFFFFF, data32)
    # The GDT in guest memory holds what the segment registers say.
    assert gdt_limit == 0x1F
    assert gdt_entry(vm, gdt_base, 0x10) == descriptor(0, 0xFFFFF, attr(code64))
    assert gdt_entry(vm, gdt_base, 0x18) == descriptor(0, 0xFFFFF, attr(data32))
    assert gdt_entry(vm, gdt_base, 0x00) == gdt_entry(vm, gdt_base, 0x08) == 0
    # Identity map: the PML4 entry -> PDPT -> a 2 MiB page at the kernel.
    pdpt = struct.unpack("<Q", vm.read(cr3, 8))[0] & ~0xFFF
    pd = struct.unpack("<Q", vm.read(pdpt, 8))[0] & ~0xFFF
    assert struct.unpack("<Q", vm.read(pd + 8 * 2, 8))[0] & ~0xFFF == 0x400000
    vm.close()
    assert m.allocator.free_count() == free


@pytest.mark.parametrize("arch", sorted(BACKENDS))
def test_32_bit_boot_protocol_state(arch):
    machine, state, _, code32, data32, _ = BACKENDS[arch]
    m = machine()
    vm = m.vm(32 * MiB)
    c = vm.new_vcpu()
    for r in (RBP, RDI, RBX):
        c.set_gpr(r, 0x1234)                    # whatever a previous guest left
    assert vm.load_linux(bzimage(), mode="protected") is c
    assert c.rip == 0x200000 and c.get_gpr(RSI) == linux.BOOT_PARAMS
    assert [c.get_gpr(r) for r in (RBP, RDI, RBX)] == [0, 0, 0]             # boot.rst: must be zero
    segs, cr0, _, efer, _ = state(c)
    assert cr0 & 0x80000001 == 1 and not efer & 0x400                       # paging off
    assert segs["cs"] == (0x10, 0, 0xFFFFFFFF, code32) and segs["ss"][0] == 0x18
    assert struct.unpack_from("<I", vm.read(linux.BOOT_PARAMS, 4096), 0x214)[0] == 0x200000
    vm.close()


@pytest.mark.parametrize("image, kw, message", [
    (b"\x7fELF" + bytes(8000), {}, "not a bzImage"),
    (bzimage(version=0x0206), {}, "2.06 is too old"),
    (bzimage(setup_sects=40, truncate=0x2000), {}, "truncated setup"),
    (bzimage(pref_address=0x1E00000, init_size=0x400000), {}, "needs RAM 0x1e00000-0x2200000"),
    (bzimage(), dict(initrd=bytes(31 * MiB)), "initrd .* does not fit"),
    (bzimage(cmdline_size=16), dict(cmdline="console=ttyS0 earlyprintk"), "at most 16"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_malformed_leaves_the_vm_untouched(image, kw, message):
    m = svm_fakes.Machine()
    free = m.allocator.free_count()
    vm = m.vm(32 * MiB)
    with pytest.raises(ImageError, match=message):
        vm.load_linux(image, **kw)
    assert vm.vcpus == [] and vm.owned_frames() == 0 and vm.kernel is None
    vm.close()
    assert m.allocator.free_count() == free


def test_running_out_of_frames_mid_load_leaves_none_after_close():
    m = svm_fakes.Machine()
    free = m.allocator.free_count()
    hog = [m.allocator.alloc_frame() for _ in range(free - 600)]    # ~2.3 MiB left
    vm = m.vm(64 * MiB)
    with pytest.raises(OutOfFrames):
        vm.load_linux(bzimage(payload=bytes(4 * MiB), init_size=8 * MiB))
    vm.close()
    for f in hog:
        m.allocator.dealloc_frame(f)
    assert m.allocator.free_count() == free


class _Run:
    """vm.run stand-in: records the VM it ran, returns a result."""

    def __init__(self, vm):
        self.vm = vm

    def __call__(self, **options):
        return ("ran", self.vm.kernel)


def test_hv_boot_recognises_a_bzimage(monkeypatch):
    import hv
    from test_mbload import aout
    m = svm_fakes.Machine()
    made = []

    def make_vm(mem):
        vm = m.vm(mem)
        vm.run = _Run(vm)
        made.append(vm)
        return vm
    monkeypatch.setattr(hv, "VM", make_vm)
    tag, plan = hv.boot(bzimage(), initrd=b"070701" * 100, cmdline="console=ttyS0")
    assert tag == "ran" and isinstance(plan, linux.Plan) and plan.initrd_size == 600
    assert plan.cmdline == b"console=ttyS0\0" and made[-1].mem_size == 128 * MiB
    tag, plan = hv.boot(aout())
    assert plan.kind == "a.out-kludge" and made[-1].mem_size == 32 * MiB      # multiboot as before
    with pytest.raises(ValueError, match="initrd= is for a Linux bzImage"):
        hv.boot(aout(), initrd=b"x")
    with pytest.raises(ImageError, match="2.05 is too old"):
        hv.boot(bzimage(version=0x0205))
    assert all(vm.owned_frames() == 0 and vm.vcpus == [] for vm in made)      # each VM closed


def test_hv_boot_named_bzimage_module_gets_its_line_less_the_name():
    from hv.loader.boot import linux_cmdline
    assert linux_cmdline("bzImage console=ttyS0 quiet") == "console=ttyS0 quiet"
    assert linux_cmdline("bzImage") == ""
