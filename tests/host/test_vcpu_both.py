"""The arch-neutral vCPU API over both back ends' fakes (svm_fakes,
vmx_fakes, through mmio_rig.Rig): what tier one answers inside run(), the
records of tier two and complete(), GuestFault from a handler as the
architectural exception, interrupts injected now or through the window, the
run slice, CPUID's hypervisor leaves and TLB flushes after an unmap. The
same guest code and the same assertions on both; each back end's own
encodings (exit codes, EXITINFO/qualification) are in the steps."""
import pytest

from hv.vcpu.api import GuestFault
from hv.vcpu.svm import defs as sdefs, vmcb as V
from hv.vcpu.vmx import defs as xdefs, fields as F
from hv.x86 import insn as _insn
from hv.x86.regs import RAX, RBX, RCX, RDX, RDI
from mmio_rig import LOAD, Rig


@pytest.fixture(params=("svm", "vmx"))
def rig(request):
    r = Rig(request.param)
    yield r
    r.close()


def length_at(rig, rip):
    return _insn.length(bytearray(rig.vm.read(rip, 15)), True)


def io(rig, port, width, is_in):
    """The exit for an IN/OUT at RIP (length from the code the rig loaded)."""
    def step(v, gprs):
        if rig.arch == "svm":
            rip = v.get(V.RIP)
            v.set(V.EXITINFO1, port << 16 | width << 4 | (1 if is_in else 0))
            v.set(V.EXITINFO2, rip + length_at(rig, rip))
            return sdefs.VMEXIT_IOIO
        v[F.EXIT_QUALIFICATION] = port << 16 | (width - 1) | (8 if is_in else 0)
        v[F.VM_EXIT_INSTRUCTION_LEN] = length_at(rig, v[F.GUEST_RIP])
        return xdefs.EXIT_IO_INSTRUCTION
    return step


def insn(rig, svm_code, vmx_reason, length, svm_info1=0):
    """An instruction intercept (CPUID, RDMSR/WRMSR, VMMCALL/VMCALL, HLT)."""
    def step(v, gprs):
        if rig.arch == "svm":
            v.set(V.EXITINFO1, svm_info1)
            return svm_code
        v[F.VM_EXIT_INSTRUCTION_LEN] = length
        return vmx_reason
    return step


def rdmsr(rig):
    return insn(rig, sdefs.VMEXIT_MSR, xdefs.EXIT_RDMSR, 2)


def wrmsr(rig):
    return insn(rig, sdefs.VMEXIT_MSR, xdefs.EXIT_WRMSR, 2, svm_info1=1)


def hypercall(rig):
    return insn(rig, sdefs.VMEXIT_VMMCALL, xdefs.EXIT_VMCALL, 3)


def cpuid(rig):
    return insn(rig, sdefs.VMEXIT_CPUID, xdefs.EXIT_CPUID, 2)


def test_registered_ports_are_answered_inside_run(rig):
    rig.load("in al, 0x60\nout 0x61, al\nin eax, dx\nhlt", rax=0xFFFFFFFF00000000, rdx=0x600)
    log = []
    rig.c.register_io(0x60, 2, lambda p, w: 0x1A5, lambda p, w, v: log.append((p, w, v)))
    rig.c.register_io(0x600, 1, lambda p, w: 0x87654321, None)
    e = rig.run(io(rig, 0x60, 1, True), io(rig, 0x61, 1, False), io(rig, 0x600, 4, True), rig.hlt())
    assert e.reason == "Halt" and log == [(0x61, 1, 0xA5)]
    assert rig.reg("rax") == 0x87654321             # IN EAX zero-extends in 64-bit mode


def test_fast_ports_are_served_by_the_natives_and_drained_in_order(rig):
    # hv.vcpu.fastio: an 8-bit IN of an answered port and an 8-bit OUT to
    # the collected port never reach Python; the collected bytes reach the
    # sink before Python handles the exit that ended the natives' batch.
    got = []
    rig.c.register_io(0xF9, 1, None, lambda p, w, v: got.append(("python", v)))
    rig.c.fast_io.answer(0xFD, 0x60)
    rig.c.fast_io.collect(0x3F8, lambda data: got.append(("sink", data)))
    rig.c.bind()                                                # hands the lists to the natives
    rig.load("in al, 0xFD\nout dx, al\nout dx, al\nout 0xF9, al\nin ax, dx\nhlt",
             rdx=0x3F8, rax=0x1234)
    before = rig.c.exits
    e = rig.run(io(rig, 0xFD, 1, True), io(rig, 0x3F8, 1, False), io(rig, 0x3F8, 1, False),
                io(rig, 0xF9, 1, False), io(rig, 0x3F8, 2, True))
    assert rig.native.served == 3 and rig.c.exits - before == 5   # served ones count too
    assert rig.reg("rax") & 0xFFFF == 0x1260                     # the answer, in AL only
    assert got == [("sink", b"``"), ("python", 0x60)]            # in order, before Python's
    assert e.as_tuple()[:3] == ("IoRead", 0x3F8, 2)              # 16 bits: not the natives'
    rig.c.complete(0)
    rig.c.every_exit_out(True)                                   # a trace sees every exit
    rig.load("in al, 0xFD\nhlt")
    assert rig.run(io(rig, 0xFD, 1, True)).reason == "IoRead" and rig.native.served == 3


def test_unregistered_ports_leave_as_records_completed_by_width(rig):
    rig.load("in ax, dx\nout dx, al\nhlt", rax=0x1122334455667788, rdx=0x3F8)
    e = rig.run(io(rig, 0x3F8, 2, True))
    assert e.as_tuple() == ("IoRead", 0x3F8, 2) and rig.c.exit_rip == LOAD
    with pytest.raises(ValueError, match="complete"):
        rig.c.run()
    rig.c.complete(0xABCDEF)
    assert rig.reg("rax") == 0x112233445566CDEF       # AX only
    e = rig.run(io(rig, 0x3F8, 1, False))
    assert e.as_tuple() == ("IoWrite", 0x3F8, 1, 0xEF)
    assert rig.c.rip == LOAD + 3                    # 66 ED, EE


def test_msrs_inside_outside_and_faulting(rig):
    rig.load("rdmsr\nrdmsr\nwrmsr\nrdmsr\nhlt", rcx=0x4D500001)
    values = {}
    rig.c.register_msr(0x4D500001, lambda m: 0x1_0000_0002, lambda m, v: values.__setitem__(m, v))
    rig.run(rdmsr(rig), rig.stop())
    assert (rig.reg("rdx"), rig.reg("rax")) == (1, 2)
    rig.set("rcx", 0x4D500002)                        # nobody registered it
    e = rig.run(rdmsr(rig))
    assert e.as_tuple() == ("SysRegRead", 0x4D500002)
    rig.c.complete(0xAAAA_BBBB_CCCC_DDDD)
    assert (rig.reg("rdx"), rig.reg("rax")) == (0xAAAABBBB, 0xCCCCDDDD)

    def refuse(m, v):
        raise GuestFault(13, 0)
    rig.c.register_msr(0x4D500002, None, refuse)
    rip = rig.c.rip
    rig.run(wrmsr(rig), rig.stop())
    assert rig.injected() == (13, 0) and rig.c.rip == rip     # #GP(0) at the WRMSR


def test_hypercalls_inside_and_as_records(rig):
    rig.load("vmmcall\nvmmcall\nhlt", rax=7, rdi=40, rsi=2)
    rig.c.register_hypercall(7, lambda c, args: args[0] + args[1])
    rig.run(hypercall(rig), rig.stop())
    assert rig.reg("rax") == 42
    rig.set("rax", 9)
    e = rig.run(hypercall(rig))
    assert e.reason == "Hypercall" and e.nr == 9 and list(e.args[:2]) == [40, 2]
    rig.c.set_return_value(5)
    assert rig.reg("rax") == 5 and rig.c.rip == LOAD + 6


def test_cpuid_names_the_hypervisor(rig):
    rig.load("cpuid\ncpuid\nhlt", rax=0x40000000)
    rig.run(cpuid(rig), rig.stop())
    sig = b"".join(rig.c.get_gpr(r).to_bytes(4, "little") for r in (RBX, RCX, RDX))
    assert sig == b"mpvisor\0\0\0\0\0" and rig.reg("rax") == 0x40000001
    rig.set("rax", 1)
    rig.run(cpuid(rig), rig.stop())
    assert rig.reg("rcx") >> 31 & 1 and not rig.reg("rcx") >> 5 & 1   # hypervisor bit, no VMX


def test_cpuid_follows_the_guests_cr4_and_xcr0(rig):
    # The host runs with CR4.OSXSAVE set; the guest's CPUID.1:ECX.OSXSAVE is
    # its own CR4's (a guest that cleared it would #UD on the XGETBV this
    # bit promises), and CPUID.(0DH,0):EBX sizes the area of its own XCR0.
    table = rig.vm.io.cpuid_table
    a, b, c, d = table[1]
    table[1] = (a, b, c | 1 << 27 | 1 << 26, d)                 # OSXSAVE, XSAVE
    table[(0xD, 2)] = (256, 576, 0, 0)                          # AVX: 256 bytes at 576
    rig.load("cpuid\nhlt", rax=1)
    rig.run(cpuid(rig), rig.stop())
    assert rig.reg("rcx") >> 26 & 3 == 1                        # XSAVE, not OSXSAVE
    if rig.arch == "svm":
        rig.c.vmcb.set(V.CR4, rig.c.vmcb.get(V.CR4) | 1 << 18)
    else:
        rig.c.vmcs.writen(F.GUEST_CR4, rig.c.vmcs.readn(F.GUEST_CR4) | 1 << 18)
    rig.c.set_xcr0(7)

    def ask(leaf, sub=0):
        rig.c.rip = LOAD
        rig.set("rax", leaf)
        rig.set("rcx", sub)
        rig.run(cpuid(rig), rig.stop())
        return rig.reg("rbx"), rig.reg("rcx")
    assert ask(1)[1] >> 26 & 3 == 3                             # OSXSAVE now
    assert ask(0xD, 0)[0] == 576 + 256 and ask(0xD, 1)[0] == 576 + 256
    rig.c.set_xcr0(3)
    assert ask(0xD, 0)[0] == 576


def test_the_vmms_time_is_left_out_of_the_guests_tsc(rig):
    # hv.vmm.ticks' state, kept by the natives (port/natives.h, here
    # fake_natives): while ON, each entry adds the VMM's time since the last
    # exit to STOLEN and loads -STOLEN as the TSC offset: the VMCB's
    # (APM2 Table B-1) or the VMCS's, with "use TSC offsetting" on (SDM 3C
    # 25.6.5, 26.3). The vCPU passes the state to every entry.
    from hv.vmm.ticks import EXITED, ON, STOLEN
    seen = []

    def noting(step):
        def s(v, gprs):
            seen.append(v.get(V.TSC_OFFSET) if rig.arch == "svm" else v[F.TSC_OFFSET])
            return step(v, gprs)
        return s
    if rig.arch == "vmx":
        assert rig.c.vmcs.read32(F.CPU_BASED_VM_EXEC_CONTROL) & xdefs.CPU_TSC_OFFSETTING
    rig.load("cpuid\ncpuid\nhlt")
    rig.run(noting(cpuid(rig)), noting(cpuid(rig)), noting(rig.stop()))
    assert seen == [0, 0, 0] and rig.c.clock[STOLEN] == 0       # not ON: nothing left out
    rig.c.clock[ON] = 1
    rig.c.rip = LOAD
    rig.run(noting(cpuid(rig)), noting(cpuid(rig)), noting(rig.stop()))
    stolen = rig.c.clock[STOLEN]
    assert stolen > 0 and rig.c.clock[EXITED] > 0               # frozen at the last exit
    assert seen[3] == 0 and 0 < (1 << 64) - seen[4] < (1 << 64) - seen[5] == stolen


def test_interrupts_are_injected_now_or_through_the_window(rig):
    rig.load("hlt\nhlt\nhlt")
    rig.c.rflags = 0x202                            # IF = 1: now
    rig.c.inject_interrupt(0x30)
    rig.run(rig.stop())
    assert rig.injected() == (0x30, None)
    rig.c.rflags = 0x2                              # IF = 0: the window opens instead
    rig.c.inject_interrupt(0x31)
    rig.run(rig.stop())
    assert rig.injected() is None and rig.c.pending_interrupts() == 1
    if rig.arch == "svm":
        assert rig.c.vmcb.get(V.INTERCEPT_MISC1) & sdefs.INTERCEPT_VINTR
    else:
        assert rig.c.vmcs.read32(F.CPU_BASED_VM_EXEC_CONTROL) & xdefs.CPU_INTERRUPT_WINDOW_EXITING


def test_the_run_slice_returns_nothing(rig):
    rig.load("cpuid\n" * 8 + "hlt", rax=0)
    rig.c.run_slice = 3
    e = rig.run(*[cpuid(rig) for _ in range(8)])
    assert e.reason == "Nothing" and rig.left() == 5 and rig.c.exits == 3


def test_handler_exceptions_propagate_and_the_vcpu_stays_usable(rig):
    rig.load("in al, 0x70\nin al, 0x70\nhlt")

    def broken(port, width):
        raise ZeroDivisionError("device model bug")
    rig.c.register_io(0x70, 1, broken, None)
    with pytest.raises(ZeroDivisionError):
        rig.run(io(rig, 0x70, 1, True))
    rig.c.retry()                                   # the IN runs again
    assert rig.c.rip == LOAD
    rig.c.register_io(0x70, 1, lambda p, w: 0x42, None)
    assert rig.run(io(rig, 0x70, 1, True), rig.hlt()).reason == "Halt"
    assert rig.reg("rax") & 0xFF == 0x42


def test_unmapping_flushes_the_guest_tlb_at_the_next_entry(rig):
    rig.load("hlt\nhlt")
    rig.run(rig.stop())
    rig.vm.map_ram(0x400000, 0x1000)
    rig.vm.unmap(0x400000, 0x1000)
    assert rig.c._tlb_flush and rig.c._slow[0]
    rig.run(rig.stop())
    assert not rig.c._tlb_flush
    if rig.arch == "svm":
        assert rig.native.entries[-1][2] != sdefs.TLB_CONTROL_NOTHING
    else:
        assert rig.m.vmx.flushes[-1][0] in ("invept", "invvpid")


def test_rdi_is_the_first_hypercall_argument(rig):
    rig.load("vmmcall\nhlt", rax=3, rdi=0x1234)
    e = rig.run(hypercall(rig))
    assert e.args[0] == rig.c.get_gpr(RDI) == 0x1234 and rig.c.get_gpr(RAX) == 3


def test_an_io_exit_ends_the_interrupt_shadow_and_keeps_its_rip(rig):
    # STI; OUT: the shadow ends with the OUT (APM2 15.21.5, SDM 3C 26.3.1.5),
    # RIP moves past it and exit_rip names it.
    rig.load("out 0x61, al\nhlt", rax=0x1234)
    rig.c.register_io(0x61, 1, None, lambda p, w, v: None)
    if rig.arch == "svm":
        rig.c.vmcb.set(V.INTERRUPT_STATE, 1)
    else:
        rig.c.vmcs.write32(F.GUEST_INTERRUPTIBILITY_INFO, xdefs.BLOCKING_BY_STI)
    rig.run(io(rig, 0x61, 1, False), rig.stop())
    shadow = (rig.c.vmcb.get(V.INTERRUPT_STATE) if rig.arch == "svm"
              else rig.c.vmcs.read32(F.GUEST_INTERRUPTIBILITY_INFO))
    assert shadow == 0 and rig.c.rip == LOAD + 2 and rig.c.exit_rip == LOAD
    assert rig.c.ring.entries()[-1][1:] == (("IoWrite", 0x61, 1, 0x34), LOAD)


def test_fresh_ram_is_backed_inside_run_and_the_rest_leaves(rig):
    rig.load("hlt")                                 # the faults come before it, as steps
    backed = []
    rig.c.register_ram_fault(lambda gpa: backed.append(gpa) or gpa < 0x400000)
    e = rig.run(rig.npf(0x300000, write=True), rig.npf(0x301000, table=True), rig.hlt())
    assert e.reason == "Halt" and backed == [0x300000, 0x301000]    # no exit went up
    e = rig.run(rig.npf(0x500000))                  # the VMM declined: a record
    assert (e.reason, e.addr, backed[-1]) == ("NestedPageFault", 0x500000, 0x500000)
    rig.c.every_exit_out(True)                      # a trace sees every fault
    e = rig.run(rig.npf(0x302000))
    assert (e.reason, backed[-1]) == ("NestedPageFault", 0x500000)
    rig.c.every_exit_out(False)
    rig.c.register_ram_fault(None)
    assert rig.run(rig.npf(0x303000)).reason == "NestedPageFault"


def test_vm_run_backs_fresh_ram_without_a_record(rig):
    rig.load("hlt")                                 # the faults come before it, as steps
    r = rig.vm_run(rig.npf(0x300000, write=True), rig.hlt(), trace=True)
    assert ("NestedPageFault", 0x300000, "w") in r.trace     # traced: it came out
    rig.vm.unmap(0x300000, 0x1000)
    r = rig.vm_run(rig.npf(0x300000, write=True), rig.hlt())
    assert r.reason == "Halt" and rig.vm.gpa_to_hpa(0x300000) >= 0
    assert rig.c.ram_fault is not None
    # Mapped already, or past the end of RAM: the VMM backs nothing there.
    assert rig.c.ram_fault(0x300000) is False and rig.c.ram_fault(rig.vm.mem_size) is False
