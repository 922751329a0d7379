# Host tests of string I/O wired into both vCPU back ends (hv.vcpu.strio)
# over their fakes: INS/OUTS with REP, every width, DF, 16/32/64-bit
# addresses and segment overrides, described from the exit or decoded where
# the CPU reports too little (SVM under QEMU TCG, VMX without INS/OUTS
# information), registered ports answered inside run(), unregistered ones
# one element per IoRead/IoWrite exit and vm.run's policies for them, the
# memory side in a registered MMIO device, #PF with CR2. SVM and VMX alike.
import pytest

from hv.x86 import alu
from hv.x86.modrm import ES, FS
from mmio_rig import DEV, Device, Fifo, Rig

PORT = 0x1F0


@pytest.fixture(params=["svm", "vmx"])
def rig(request):
    r = Rig(request.param)
    yield r
    r.close()


def fifo(rig, values=(), port=PORT):
    f = Fifo(values)
    rig.c.register_io(port, 1, f.read, f.write)
    return f


@pytest.mark.parametrize("info", [True, False], ids=["reported", "decoded"])
def test_rep_insb_from_a_registered_port(rig, info):
    fifo(rig, [0x41, 0x42, 0x43, 0x44, 0x145])          # the vCPU masks to the width
    rig.load("rep insb\nhlt", rdi=0x200000, rcx=5)
    assert rig.run(rig.string(PORT, 1, True, rep=True, info=info), rig.hlt()).reason == "Halt"
    assert rig.vm.read(0x200000, 6) == b"ABCDE\0"
    assert (rig.reg("rdi"), rig.reg("rcx"), rig.c.rip) == (0x200005, 0, 0x10003)
    assert rig.c.ring.entries()[-1][1] == ("IoRead", PORT, 1, 0x45)


@pytest.mark.parametrize("info", [True, False], ids=["reported", "decoded"])
def test_rep_outsw_down_with_32_bit_addresses(rig, info):
    f = fifo(rig)
    rig.vm.write(0x200100, bytes.fromhex("1111 2222 3333"))
    rig.load("a32 rep outsw\nhlt", rsi=0xFFFFFFFF_00200104, rcx=0xFFFFFFFF_00000003,
             rflags=0x2 | alu.DF)
    assert rig.run(rig.string(PORT, 2, False, rep=True, addr_bits=32, info=info),
                   rig.hlt()).reason == "Halt"
    assert f.log == [(PORT, 2, 0x3333), (PORT, 2, 0x2222), (PORT, 2, 0x1111)]
    assert (rig.reg("rsi"), rig.reg("rcx")) == (0x2000FE, 0)   # 32-bit: zero-extended


@pytest.mark.parametrize("info", [True, False], ids=["reported", "decoded"])
@pytest.mark.parametrize("arch", ["svm", "vmx"])
def test_outsd_with_a_segment_override_and_16_bit_addresses(arch, info):
    rig = Rig(arch, mode="protected")               # 32-bit code: a 67 prefix means 16-bit addresses
    try:
        f = fifo(rig)
        rig.set_seg_base(FS, 0x300000)
        rig.vm.write(0x30FFFC, b"\x78\x56\x34\x12")
        rig.load("fs a16 rep outsd\nhlt", rsi=0xABCDFFFC, rcx=0x55550001)
        step = rig.string(PORT, 4, False, rep=True, addr_bits=16, seg=FS, info=info)
        assert rig.run(step, rig.hlt()).reason == "Halt"
        assert f.log == [(PORT, 4, 0x12345678)]
        assert (rig.reg("rsi"), rig.reg("rcx")) == (0xABCD0000, 0x55550000)   # 16 bits wrap
    finally:
        rig.close()


def test_outsb_with_fs_in_64_bit_mode(rig):
    f = fifo(rig)
    rig.set_seg_base(FS, 0x300000)
    rig.vm.write(0x300020, b"z")
    rig.load("fs outsb\nhlt", rsi=0x20)
    assert rig.run(rig.string(PORT, 1, False, seg=FS, info=False), rig.hlt()).reason == "Halt"
    assert f.log == [(PORT, 1, ord("z"))] and rig.reg("rsi") == 0x21


def test_string_io_into_a_registered_mmio_device(rig):
    d = Device()
    rig.c.register_mmio(DEV, 0x1000, d.read, d.write)
    fifo(rig, [0xAAAA, 0xBBBB, 0xCC])
    rig.load("rep insw\nhlt", rdi=DEV + 0x10, rcx=2)
    assert rig.run(rig.string(PORT, 2, True, rep=True), rig.hlt()).reason == "Halt"
    assert d.log == [("w", DEV + 0x10, 2, 0xAAAA), ("w", DEV + 0x12, 2, 0xBBBB)]
    rig.load("insb\nhlt", rdi=0xC0000000)
    with pytest.raises(NotImplementedError, match="INS/OUTS with its memory operand"):
        rig.run(rig.string(PORT, 1, True))


def test_unregistered_port_one_element_per_exit(rig):
    rig.load("rep insw\nhlt", rdi=0x200000, rcx=2)
    step = rig.string(0x1234, 2, True, rep=True)
    e = rig.run(step)
    assert e.as_tuple() == ("IoRead", 0x1234, 2) and rig.c.exit_rip == 0x10000
    rig.c.complete(0x1BEEF)
    e = rig.run(step)                               # element 0 stored; the guest re-executes
    assert rig.vm.read(0x200000, 2) == b"\xef\xbe" and rig.reg("rcx") == 1
    assert e.as_tuple() == ("IoRead", 0x1234, 2) and rig.c.rip == 0x10000
    rig.c.complete(0x0102)
    assert rig.run(rig.hlt()).reason == "Halt"
    assert rig.vm.read(0x200000, 4) == b"\xef\xbe\x02\x01" and rig.reg("rcx") == 0
    rig.vm.write(0x200100, b"xy")
    rig.load("outsb\noutsb\nhlt", rsi=0x200100)
    e = rig.run(rig.string(0x1234, 1, False))
    assert e.as_tuple() == ("IoWrite", 0x1234, 1, ord("x")) and rig.c.rip == 0x10000
    rig.c.retry()                                   # dropped: nothing done
    assert (rig.reg("rsi"), rig.c.rip) == (0x200100, 0x10000)
    assert rig.run(rig.string(0x1234, 1, False)).data == ord("x")
    e = rig.run(rig.string(0x1234, 1, False))       # the first completes, then the second
    assert e.as_tuple() == ("IoWrite", 0x1234, 1, ord("y")) and rig.c.rip == 0x10001
    assert rig.run(rig.hlt()).reason == "Halt" and rig.reg("rsi") == 0x200102


def test_vm_run_policies_for_string_io(rig):
    rig.load("rep insb\nhlt", rdi=0x200000, rcx=3)
    step = rig.string(0x1234, 1, True, rep=True)
    rig.vm.vmm.unhandled_io = "stop"
    r = rig.vm_run(step)
    assert (r.reason, r.exit.port, rig.reg("rcx"), rig.c.rip) == ("UnhandledPort", 0x1234, 3, 0x10000)
    rig.vm.vmm.unhandled_io = "pc"                  # the PC's default: the open bus reads all ones
    r = rig.vm_run(step, step, step, rig.hlt(), trace=True)
    assert r.reason == "Halt" and rig.vm.read(0x200000, 4) == b"\xff\xff\xff\0"
    assert r.trace == [("IoRead", 0x1234, 1, 0xFF)] * 3 + [("Halt",)]
    f = fifo(rig, [1, 2])                           # trace on: vm.run answers the registered port
    rig.load("rep insb\nhlt", rdi=0x200000, rcx=2)
    step = rig.string(PORT, 1, True, rep=True)
    r = rig.vm_run(step, step, rig.hlt(), trace=True)
    assert r.trace == [("IoRead", PORT, 1, 1), ("IoRead", PORT, 1, 2), ("Halt",)]
    assert rig.vm.read(0x200000, 2) == b"\x01\x02" and not f.values


def test_an_outs_handler_can_end_the_run(rig):
    seen = []
    rig.c.register_io(0x500, 1, None, lambda p, w, v: seen.append(v) or ("Done" if v == 2 else None))
    rig.vm.write(0x200000, b"\x01\x02\x03")
    rig.load("rep outsb\nhlt", rsi=0x200000, rcx=3)
    e = rig.run(rig.string(0x500, 1, False, rep=True))
    assert (e.reason, e.stop, e.port, e.data) == ("IoWrite", "Done", 0x500, 2)
    assert seen == [1, 2] and rig.reg("rcx") == 1 and rig.c.rip == 0x10000


def test_a_string_op_page_fault_sets_cr2_and_keeps_the_elements_done(rig):
    import struct
    fifo(rig, [7, 8, 9])
    rig.vm.write(0x4000 + 8, struct.pack("<Q", 0))     # the guest unmaps linear 2-4 MiB
    rig.load("rep insb\nhlt", rdi=0x1FFFFE, rcx=3)
    rig.run(rig.string(PORT, 1, True, rep=True), rig.stop())
    assert rig.injected() == (14, 2) and rig.cr2() == 0x200000
    assert (rig.reg("rcx"), rig.reg("rdi"), rig.c.rip) == (1, 0x200000, 0x10000)
    assert rig.vm.read(0x1FFFFE, 2) == b"\x07\x08"


def test_svm_decode_assists_report_the_segment():
    # With decode assists EXITINFO1's SEG is the effective segment: here FS
    # for bytes that say DS, so only SEG can make the guest read "Q".
    rig = Rig("svm", decode_assists=True)
    try:
        f = fifo(rig)
        rig.set_seg_base(FS, 0x300000)
        rig.vm.write(0x300010, b"Q")
        rig.load("outsb\nhlt", rsi=0x10)
        assert rig.run(rig.string(PORT, 1, False, seg=FS), rig.hlt()).reason == "Halt"
        assert f.log == [(PORT, 1, ord("Q"))]
    finally:
        rig.close()
