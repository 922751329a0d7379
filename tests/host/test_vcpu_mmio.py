# Host tests of MMIO emulation wired into both vCPU back ends (hv.vcpu.mmio,
# hv.vcpu.emul) over their fakes: register_mmio, the nested page fault
# decoded and emulated inside run() (loads, stores, read-modify-writes,
# MOVS, RIP-relative), MmioRead/MmioWrite exits with complete() and the
# element replayed at the next run(), vm.run's policies, guest faults, SVM
# decode-assist bytes. Every test runs on SVM and VMX.
import pytest

from hv.x86 import alu
from hv.vcpu.svm import exits as sexits, defs as sdefs
from hv.vcpu.vmx import exits as xexits, defs as xdefs
from mmio_rig import DEV, Device, Rig

B = DEV


@pytest.fixture(params=["svm", "vmx"])
def rig(request):
    r = Rig(request.param)
    yield r
    r.close()


def with_device(rig, base=DEV, size=0x1000):
    d = Device(base, size)
    rig.c.register_mmio(base, size, d.read, d.write)
    return d


def test_loads_and_stores_of_every_width(rig):
    d = with_device(rig)
    d.mem[0:0x50] = bytes(range(0x80, 0xD0))
    rig.load("""
        mov eax, [rbx+8]
        mov rcx, [rbx+rsi*8+0x10]
        movzx edx, byte [rbx+1]
        movsx r8, word [rbx+2]
        mov byte [rbx+0x20], 0x5A
        mov [rbx+0x22], r9w
        mov [rbx+0x28], r10
        mov eax, [qword 0xFED00040]
        mov ah, [rbx+0x44]
        hlt""", rbx=B, rsi=1, rax=0xFFFFFFFF_FFFFFFFF, rdx=-1 & (2**64 - 1),
             r9=0x1111222233334444, r10=0x0123456789ABCDEF)
    e = rig.run(rig.npf(B + 8), rig.npf(B + 0x18), rig.npf(B + 1), rig.npf(B + 2),
                rig.npf(B + 0x20, True), rig.npf(B + 0x22, True), rig.npf(B + 0x28, True),
                rig.npf(B + 0x40), rig.npf(B + 0x44), rig.hlt())
    assert e.reason == "Halt" and rig.left() == 0
    assert rig.reg("rcx") == int.from_bytes(bytes(range(0x98, 0xA0)), "little")
    assert rig.reg("rdx") == 0x81                           # MOVZX: zero-extended to 64
    assert rig.reg("r8") == 0xFFFFFFFFFFFF8382              # MOVSX of 0x8382
    assert rig.reg("rax") == 0xC3C2C4C0                    # EAX zero-extends; AH merges
    assert d.mem[0x20] == 0x5A and d.mem[0x22:0x24] == b"\x44\x44"
    assert d.mem[0x28:0x30] == bytes.fromhex("efcdab8967452301")
    assert [(k, a - B, w) for k, a, w, _ in d.log] == [
        ("r", 8, 4), ("r", 0x18, 8), ("r", 1, 1), ("r", 2, 2), ("w", 0x20, 1), ("w", 0x22, 2),
        ("w", 0x28, 8), ("r", 0x40, 4), ("r", 0x44, 1)]
    assert rig.c.rip == 0x10000 + len(rig.code)
    assert [n for n, t, _ in rig.c.ring.entries()][-1] >= 9
    assert rig.c.ring.entries()[-1][1] == ("MmioRead", B + 0x44, 1, 0xC4)


def test_read_modify_write_forms_and_flags(rig):
    d = with_device(rig)
    d.mem[0:4] = (0x01).to_bytes(4, "little")
    d.mem[4] = 0xF3
    d.mem[8:16] = (0xFF00).to_bytes(8, "little")
    d.mem[0x10:0x14] = (0xAAAA).to_bytes(4, "little")
    d.mem[0x14:0x18] = (0x7F).to_bytes(4, "little")
    d.mem[0x18:0x1A] = b"\xff\xff"
    rig.load("""
        or dword [rbx], 0x10
        and byte [rbx+4], 0x0F
        xor [rbx+8], rax
        xchg [rbx+0x10], ecx
        test dword [rbx+0x14], 0x80
        add word [rbx+0x18], 1
        lock or dword [rbx], 0x100
        hlt""", rbx=B, rax=0x0FF0, rcx=0x55555555_12345678, rflags=0x2)
    steps = [rig.npf(B), rig.npf(B + 4), rig.npf(B + 8), rig.npf(B + 0x10), rig.npf(B + 0x14)]
    assert rig.run(*steps, rig.stop()).reason == "NestedPageFault"
    assert rig.c.rip == 0x10000 + rig.code.index(b"\x66\x83")      # at the ADD
    assert int.from_bytes(d.mem[0:4], "little") == 0x11
    assert d.mem[4] == 0x03
    assert int.from_bytes(d.mem[8:16], "little") == 0xF0F0
    assert int.from_bytes(d.mem[0x10:0x14], "little") == 0x12345678
    assert rig.reg("rcx") == 0xAAAA                        # a 32-bit XCHG zero-extends
    assert rig.reg("rflags") & alu.ZF                      # TEST 0x7F, 0x80: zero
    rig.load("""
        add word [rbx+0x18], 1
        lock or dword [rbx], 0x100
        hlt""", rbx=B, rflags=0x2)
    rig.run(rig.npf(B + 0x18), rig.stop())
    assert d.mem[0x18:0x1A] == b"\0\0" and rig.reg("rflags") & (alu.CF | alu.ZF) == alu.CF | alu.ZF
    assert rig.run(rig.npf(B, True), rig.hlt()).reason == "Halt"
    assert not rig.reg("rflags") & (alu.CF | alu.ZF)
    assert int.from_bytes(d.mem[0:4], "little") == 0x111
    reads_then_writes = [(k, a - B) for k, a, _, _ in d.log if a - B in (0, 0x10)]
    assert reads_then_writes == [("r", 0), ("w", 0), ("r", 0x10), ("w", 0x10), ("r", 0), ("w", 0)]


def test_movs_between_ram_and_device_both_directions(rig):
    d = with_device(rig)
    d.mem[0x100:0x110] = bytes(range(16))
    rig.vm.write(0x200020, b"XYZ")
    rig.load("""
        rep movsd
        hlt""", rsi=B + 0x100, rdi=0x200000, rcx=4)
    assert rig.run(rig.npf(B + 0x100), rig.hlt()).reason == "Halt"
    assert rig.vm.read(0x200000, 16) == bytes(range(16))
    assert (rig.reg("rsi"), rig.reg("rdi"), rig.reg("rcx")) == (B + 0x110, 0x200010, 0)
    assert len(d.log) == 4                                  # one exit, four elements
    rig.load("""
        rep movsb
        hlt""", rsi=0x200022, rdi=B + 0x202, rcx=3, rflags=0x2 | alu.DF)
    assert rig.run(rig.npf(B + 0x202, True), rig.hlt()).reason == "Halt"
    assert d.mem[0x200:0x203] == b"XYZ" and rig.reg("rdi") == B + 0x1FF
    assert [(k, a - B) for k, a, _, _ in d.log[4:]] == [("w", 0x202), ("w", 0x201), ("w", 0x200)]


def test_rip_relative_device_inside_ram_is_never_faulted_in(rig):
    d = with_device(rig, 0x800000, 0x100)
    d.mem[0x10:0x14] = b"\x78\x56\x34\x12"
    rig.load("""
        mov eax, [rel 0x800010]
        mov ecx, [rel 0x800800]
        hlt""")
    assert rig.c.mmio_claims(0x800800) and not rig.c.mmio_claims(0x900000)
    # The range form (a 2 MiB block before it is faulted in whole) agrees.
    assert rig.c.mmio_claims_any(0x800000, 0x200000) and rig.c.mmio_claims_any(0x7FF000, 0x2000)
    assert not rig.c.mmio_claims_any(0x600000, 0x200000) and not rig.c.mmio_claims_any(0x801000, 0x1000)
    assert rig.c.mmio_claims_any(rig.vm.mem_size - 0x1000, 0x2000)   # past RAM's end
    e = rig.run(rig.npf(0x800010), rig.npf(0x800800))
    assert rig.reg("rax") == 0x12345678
    assert e.as_tuple() == ("MmioRead", 0x800800, 4)        # the device's page, outside its range
    assert rig.vm.gpa_to_hpa(0x800000) < 0
    with pytest.raises(ValueError, match="overlaps"):
        rig.c.register_mmio(0x8000F0, 0x20, d.read, d.write)
    rig.vm.write(0x900000, b"x")
    with pytest.raises(ValueError, match="is mapped"):
        rig.c.register_mmio(0x900000, 4, d.read, d.write)
    rig.c.register_mmio(0x800000, 0x100, None, None)        # unregistered
    assert rig.c.mmio_handler(0x800010, False) is None and not rig.c.mmio_claims(0x800800)


def test_unregistered_reads_and_writes_exit_and_complete(rig):
    rig.load("""
        mov eax, [rbx]
        mov [rbx+4], ecx
        or dword [rbx+8], 0x100
        rep stosd
        hlt""", rbx=0xC0000000, rcx=0x77, rax=-1 & (2**64 - 1))
    e = rig.run(rig.npf(0xC0000000))
    assert e.as_tuple() == ("MmioRead", 0xC0000000, 4)
    assert rig.c.rip == 0x10000 and rig.c.exit_rip == 0x10000
    with pytest.raises(ValueError, match="complete"):
        rig.run()
    rig.c.complete(0x1_11223344)                            # cut to the access width
    e = rig.run(rig.npf(0xC0000004, True))
    assert rig.reg("rax") == 0x11223344
    assert e.as_tuple() == ("MmioWrite", 0xC0000004, 4, 0x77) and rig.c.rip == 0x10002
    e = rig.run(rig.npf(0xC0000008))                        # the store completes, then the OR
    assert e.as_tuple() == ("MmioRead", 0xC0000008, 4) and rig.c.rip == 0x10005
    rig.c.complete(0x1)
    rig.set("rflags", 0x2 | alu.ZF)
    e = rig.run()                                            # its write, without an entry
    assert e.as_tuple() == ("MmioWrite", 0xC0000008, 4, 0x101)
    assert rig.c.rip == 0x10005 and rig.reg("rflags") & alu.ZF   # nothing done before the write
    rig.set("rdi", 0xC0000100)
    rig.set("rcx", 2)
    rig.set("rax", 0xABCD)
    e = rig.run(rig.npf(0xC0000100, True))
    assert not rig.reg("rflags") & alu.ZF                    # the OR completed: 0x101
    assert e.as_tuple() == ("MmioWrite", 0xC0000100, 4, 0xABCD) and rig.reg("rcx") == 2
    e = rig.run(rig.npf(0xC0000104, True))                  # element 0 done; the guest re-executes
    assert e.as_tuple() == ("MmioWrite", 0xC0000104, 4, 0xABCD) and rig.reg("rcx") == 1
    rig.c.retry()                                            # the VMM drops it: nothing done
    assert (rig.reg("rcx"), rig.reg("rdi"), rig.c.rip) == (1, 0xC0000104, 0x1000C)
    e = rig.run(rig.npf(0xC0000104, True))
    assert e.reason == "MmioWrite"
    assert rig.run(rig.hlt()).reason == "Halt" and rig.reg("rcx") == 0
    assert rig.c.rip == 0x10000 + len(rig.code)


def test_unregistered_xchg_and_movs_replay_without_calling_a_handler_twice(rig):
    d = with_device(rig)
    d.mem[0:4] = b"\x01\x02\x03\x04"
    rig.load("""
        xchg [rbx], edx
        movsd
        hlt""", rbx=0xC0000000, rdx=0x99, rsi=B, rdi=0xC0000010)
    assert rig.run(rig.npf(0xC0000000)).reason == "MmioRead"
    rig.c.complete(0x42)
    e = rig.run()
    assert e.as_tuple() == ("MmioWrite", 0xC0000000, 4, 0x99) and rig.reg("rdx") == 0x99
    e = rig.run(rig.npf(B))                                 # MOVS: device read, unregistered write
    assert rig.reg("rdx") == 0x42
    assert e.as_tuple() == ("MmioWrite", 0xC0000010, 4, 0x04030201)
    assert rig.run(rig.hlt()).reason == "Halt"
    assert len(d.log) == 1                                  # the replay reused what it read
    assert (rig.reg("rsi"), rig.reg("rdi")) == (B + 4, 0xC0000014)


def test_vm_run_policies_and_the_trace(rig):
    rig.load("""
        mov eax, [rbx]
        xchg [rbx+4], ecx
        hlt""", rbx=0xC0000000, rcx=5)
    r = rig.vm_run(rig.npf(0xC0000000))
    assert (r.reason, r.exit.as_tuple(), rig.c.rip) == ("UnhandledMmio", ("MmioRead", 0xC0000000, 4),
                                                       0x10000)
    assert "register one with vcpu.register_mmio(base, size, read, write)" in r.report
    rig.vm.vmm.unhandled_io = "absent"
    r = rig.vm_run(rig.npf(0xC0000000), rig.npf(0xC0000004), rig.hlt(), trace=True)
    assert r.reason == "Halt" and rig.reg("rax") == 0xFFFFFFFF and rig.reg("rcx") == 0xFFFFFFFF
    assert r.trace == [("MmioRead", 0xC0000000, 4, 0xFFFFFFFF), ("MmioRead", 0xC0000004, 4, 0xFFFFFFFF),
                       ("MmioWrite", 0xC0000004, 4, 5), ("Halt",)]
    d = Device(0xC0000000, 0x100)                           # trace on: the registered device
    d.mem[0:4] = b"\x10\0\0\0"                              # answers through vm.run
    rig.c.register_mmio(0xC0000000, 0x100, d.read, d.write)
    rig.load("""
        mov eax, [rbx]
        hlt""", rbx=0xC0000000)
    r = rig.vm_run(rig.npf(0xC0000000), rig.hlt(), trace=True)
    assert r.trace == [("MmioRead", 0xC0000000, 4, 0x10), ("Halt",)] and rig.reg("rax") == 0x10
    rig.c.rip = 0x10000
    r = rig.vm_run(rig.npf(0xC0000000), rig.hlt())          # no trace: inside the vCPU
    assert r.reason == "Halt" and r.exits == 2 and len(d.log) == 2


def test_handler_faults_reach_the_guest_and_bugs_end_the_run(rig):
    from hv.vcpu.api import GuestFault

    def refuse(addr, width, value):
        raise GuestFault(13, 0)

    def broken(addr, width):
        return 1 // 0
    rig.c.register_mmio(B, 0x10, broken, refuse)
    rig.load("""
        mov [rbx], ecx
        mov eax, [rbx]
        hlt""", rbx=B, rcx=7)
    e = rig.run(rig.npf(B, True), rig.stop())
    assert rig.injected() == (13, 0) and rig.c.rip == 0x10000 and e.reason == "NestedPageFault"
    rig.c.rip = 0x10002
    r = rig.vm_run(rig.npf(B))
    assert r.reason == "HandlerError" and isinstance(r.error, ZeroDivisionError)
    assert "exit: MmioRead addr=0xfed00000 width=4" in r.report


def test_string_op_page_fault_sets_cr2(rig):
    d = with_device(rig)
    rig.load("""
        rep movsd
        hlt""", rsi=B, rdi=0x80000000, rcx=2)               # 2 GiB: past the guest's identity map
    rig.run(rig.npf(B), rig.stop())
    assert rig.injected() == (14, 2) and rig.cr2() == 0x80000000
    assert rig.c.rip == 0x10000 and rig.reg("rcx") == 2 and d.log == [("r", B, 4, 0)]


def test_faults_that_are_not_mmio_stay_nested_page_faults(rig):
    rig.load("mov eax, [rbx]\nhlt", rbx=0xC0000000)
    assert rig.run(rig.npf(0xC0000000, table=True)).as_tuple()[0] == "NestedPageFault"
    assert rig.run(rig.npf(0xC0000000, event=True)).as_tuple()[0] == "NestedPageFault"
    rig.load("inc dword [rbx]\nhlt", rbx=0xC0000000)
    with pytest.raises(NotImplementedError, match="not an instruction the MMIO emulator handles"):
        rig.run(rig.npf(0xC0000000, True))
    rig.load("mov eax, [rbx]\nhlt", rbx=0xC0000000)       # a load cannot have faulted on a write
    with pytest.raises(NotImplementedError, match="does not write memory"):
        rig.run(rig.npf(0xC0000000, True))


def test_svm_decode_assist_bytes_are_used_and_short_ones_refetched():
    rig = Rig("svm", decode_assists=True)
    try:
        d = with_device(rig)
        d.mem[0:8] = bytes(range(1, 9))
        d.mem[0x345:0x349] = b"\x11\x22\x33\x44"
        rig.load("mov rax, [rbx]\nmov ecx, [rbx+0x345]\nhlt", rbx=B)
        real = rig.vm.read(0x10000, 3)
        rig.vm.write(0x10000, b"\x8a\x03\x90")              # memory now says mov al, [rbx]; nop
        rig.run(rig.npf_bytes(B, real), rig.stop())         # the CPU's copy: mov rax, [rbx]
        assert rig.reg("rax") == 0x0807060504030201 and rig.c.rip == 0x10003
        rig.run(rig.npf_bytes(B + 0x345, rig.vm.read(0x10003, 2)), rig.stop())  # too short
        assert rig.c.rip == 0x10009 and rig.reg("rcx") == 0x44332211
    finally:
        rig.close()


def test_exit_constants_are_the_definitions():
    assert sexits._NPF_NOT_DATA == sdefs.NPF_P | sdefs.NPF_RSV | sdefs.NPF_ID | sdefs.NPF_TABLE
    assert sexits._NPF_RW == sdefs.NPF_RW and sexits._EVENT_VALID == sdefs.EVENT_VALID
    assert xexits._EPT_DATA_MASK == (xdefs.EPT_VIOL_FETCH | xdefs.EPT_VIOL_READABLE
                                     | xdefs.EPT_VIOL_WRITABLE | xdefs.EPT_VIOL_EXECUTABLE
                                     | xdefs.EPT_VIOL_GLA_VALID | xdefs.EPT_VIOL_GLA_TRANSLATION)
    assert xexits._EPT_DATA == xdefs.EPT_VIOL_GLA_VALID | xdefs.EPT_VIOL_GLA_TRANSLATION


def test_code_rewritten_at_the_same_rip_is_decoded_afresh(rig):
    d = with_device(rig)
    d.mem[0:4] = b"\x01\x02\x03\x04"
    rig.load("mov eax, [rbx]\nhlt", rbx=B)
    rig.run(rig.npf(B), rig.stop())
    rig.c.rip = 0x10000                                   # the same bytes again: still right
    rig.run(rig.npf(B), rig.stop())
    assert rig.reg("rax") == 0x04030201 and rig.c.rip == 0x10002
    rig.load("mov cl, [rbx]\nhlt", rbx=B)                 # new code at the same RIP
    rig.run(rig.npf(B), rig.stop())
    assert rig.reg("rcx") & 0xFF == 0x01 and rig.reg("rax") == 0x04030201


def test_an_access_across_a_page_boundary_is_refused_by_name(rig):
    rig.load("mov eax, [rbx]\nhlt", rbx=0xC0000FFE)
    with pytest.raises(NotImplementedError, match="MMIO at rip 0x10000: 4-byte MMIO access at "
                                                  "0xc0000ffe crosses a page boundary"):
        rig.run(rig.npf(0xC0000FFE))


def test_a_fetch_from_a_device_page_inside_ram_never_maps_ram_there(rig):
    with_device(rig, 0x800000, 0x100)
    rig.load("hlt")
    step = rig.npf(0x800040)
    if rig.arch == "svm":                                   # an instruction fetch (NPF ID)
        from hv.vcpu.svm import vmcb as V
        rig.script(lambda v, g: (step(v, g), v.set(V.EXITINFO1, 0x100000014))[0])
    else:
        from hv.vcpu.vmx import fields as F
        rig.script(lambda v, g: (step(v, g), v.__setitem__(F.EXIT_QUALIFICATION, 0x184))[0])
    r = rig.vm.run(rig.c, echo=False)
    assert (r.reason, r.exit.access) == ("NestedPageFault", "x")
    assert rig.vm.gpa_to_hpa(0x800000) < 0
