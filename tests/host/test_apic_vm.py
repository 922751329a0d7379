# Host tests of the APICs in a VM (hv.vmm.apic via vm.vmm.enable_apic) on both
# back ends' fakes: the xAPIC page and I/O APIC reached by emulated MMIO, a
# self IPI injected at the guest's HLT and its EOI, the PIT's IRQ 0 routed
# through I/O APIC pin 2 to the LAPIC, the LAPIC timer as a time source, the
# PIC through LINT0 (ExtINT), x2APIC MSRs and CR8, and CPUID.
import pytest

from hv.vcpu.svm import defs as sdefs, vmcb as V
from hv.vcpu.vmx import defs as xdefs, fields as F
from mmio_rig import LOAD as LOAD_ADDR, Rig
from svm_fakes import exit_with as svm_fakes_exit
from time_fakes import Timer, Tsc

APIC = 0xFEE00000
IOAPIC = 0xFEC00000


def done(rig):
    # OUT 0xF4, AL (isa-debug-exit): the run ends with the entry before it seen.
    if rig.arch == "svm":
        def step(v, gprs):
            v.set(V.EXITINFO1, 0xF4 << 16 | sdefs.IOIO_SZ8)
            v.set(V.EXITINFO2, v.get(V.RIP) + 2)
            return sdefs.VMEXIT_IOIO
        return step

    def xstep(v, gprs):
        v[F.EXIT_QUALIFICATION] = 0xF4 << 16
        v[F.VM_EXIT_INSTRUCTION_LEN] = 2
        return xdefs.EXIT_IO_INSTRUCTION
    return xstep


@pytest.fixture(params=["svm", "vmx"])
def rig(request):
    r = Rig(request.param)
    r.use_vmm(Tsc(step=50), lambda: 1_000_000, Timer())
    r.apics = r.vm.vmm.enable_apic()
    r.map_gib(3)                                    # 0xC0000000-0xFFFFFFFF for the guest
    r.set("rflags", 0x202)
    yield r
    r.close()


def test_cpuid_shows_the_apic(rig):
    a, b, c, d = rig.vm.cpuid.answer(1, 0)
    assert d & 1 << 9 and c & 1 << 21 and c & 1 << 24 and b >> 24 == 0
    assert rig.vm.cpuid.answer(0xA, 0) == (0, 0, 0, 0)


def test_self_ipi_injected_then_eoi(rig):
    rig.load("""
        mov dword [rbx+0xF0], 0x1FF
        mov eax, [rbx+0x30]
        mov dword [rbx+0x300], 0x40041
        mov dword [rbx+0xB0], 0
        hlt""", rbx=APIC)
    r = rig.vm_run(rig.npf(APIC + 0xF0, True), rig.npf(APIC + 0x30), rig.npf(APIC + 0x300, True),
                   done(rig))
    assert rig.reg("rax") == 0x00050014
    assert rig.injected() == (0x41, None)           # at the entry after the ICR write
    lapic = rig.apics.lapic
    assert lapic.isr[2] == 1 << 1 and r.reason == "DebugExit"
    rig.load("mov dword [rbx+0xB0], 0\nhlt", rbx=APIC, rflags=0x2)   # a halt for good after the EOI
    r = rig.vm_run(rig.npf(APIC + 0xB0, True), rig.hlt())
    assert r.reason == "Halt" and lapic.isr == [0] * 8


def test_pit_through_ioapic_pin_2(rig):
    rig.load("""
        mov dword [rbx+0xF0], 0x1FF
        mov dword [rcx], 0x14
        mov dword [rcx+0x10], 0x30
        hlt
        hlt""", rbx=APIC, rcx=IOAPIC)
    pit = rig.vm.vmm.platform.pit
    r = rig.vm_run(rig.npf(APIC + 0xF0, True), rig.npf(IOAPIC, True), rig.npf(IOAPIC + 0x10, True),
                   done(rig))
    assert rig.apics.ioapic.rte[2] == 0x30
    pit.io_write(0x43, 1, 0x34)                     # rate generator, 10 ms
    pit.io_write(0x40, 1, 11932 & 0xFF)
    pit.io_write(0x40, 1, 11932 >> 8)
    r = rig.vm_run(rig.hlt(), done(rig))
    assert rig.injected() == (0x30, None) and r.reason == "DebugExit"
    assert rig.vm.vmm.platform.pic.master.imr == 0xFF   # the PIC, masked, delivered nothing


def test_lapic_timer_wakes_a_halted_guest(rig):
    rig.load("""
        mov dword [rbx+0xF0], 0x1FF
        mov dword [rbx+0x3E0], 0xB
        mov dword [rbx+0x320], 0x45
        mov dword [rbx+0x380], 5000000
        hlt
        hlt""", rbx=APIC)
    timer = rig.vm.vmm.platform.ticks.timer
    r = rig.vm_run(rig.npf(APIC + 0xF0, True), rig.npf(APIC + 0x3E0, True),
                   rig.npf(APIC + 0x320, True), rig.npf(APIC + 0x380, True), rig.hlt(), done(rig))
    assert rig.injected() == (0x45, None)
    # 5,000,000 ticks of the 1 GHz bus: the host timer was armed ~5 ms ahead.
    assert any(s is not None and 0.004 < s <= 0.005 for s in timer.armed)


def test_pic_through_lint0_extint(rig):
    plat = rig.vm.vmm.platform
    for port, v in ((0x20, 0x11), (0x21, 0x20), (0x21, 4), (0x21, 1), (0x21, 0xFE)):
        plat.pic.io_write(port, 1, v)
    rig.load("hlt\nhlt")
    plat.pit.io_write(0x43, 1, 0x34)
    plat.pit.io_write(0x40, 1, 0x9C)
    plat.pit.io_write(0x40, 1, 0x2E)
    rig.vm_run(rig.hlt(), done(rig))
    assert rig.injected() == (0x20, None)           # the PIC's vector, the APIC untouched


def test_x2apic_and_cr8(rig):
    lapic = rig.apics.lapic
    msrs = rig.vm.vmm.platform.apic.msrs
    rig.apics.attach(rig.c)                         # as vm.run() does
    msrs.write(0x1B, 0xFEE00C00)
    msrs.write(0x80F, 0x1FF)
    get, put = rig.c.cr8_access()
    put(6)
    assert msrs.read(0x808) == 0x60                 # TPR[7:4] is CR8
    msrs.write(0x808, 0x20)
    assert get() == 2 and lapic.tpr == 0x20


def test_mov_to_cr_decoder():
    from hv.x86.insn import DecodeError, mov_to_cr
    assert mov_to_cr(b"\x0f\x22\xc0", True) == (0, 0, 3)
    assert mov_to_cr(b"\x44\x0f\x22\xc0", True) == (8, 0, 4)        # REX.R: CR8
    assert mov_to_cr(b"\x4d\x0f\x22\xc3", True) == (8, 11, 4)       # REX.B: R11
    assert mov_to_cr(b"\xf0\x0f\x22\xc1", False) == (8, 1, 4)       # AMD: LOCK MOV CR0 is CR8
    with pytest.raises(DecodeError):
        mov_to_cr(b"\x0f\x20\xc0", True)                            # MOV from CR


@pytest.fixture
def svm():
    r = Rig("svm")
    r.use_vmm(Tsc(step=50), lambda: 1_000_000, Timer())
    r.apics = r.vm.vmm.enable_apic()
    r.set("rflags", 0x202)
    yield r
    r.close()


def test_svm_tpr_window_is_the_cr8_write_intercept(svm):
    rig, lapic = svm, svm.apics.lapic
    rig.apics.attach(rig.c)
    lapic.write(0xF0, 0x1FF)
    get, put = rig.c.cr8_access()
    put(5)
    rig.vm.vmm.platform._vcpu = rig.c
    lapic.write(0x300, 0x40041)                     # a self IPI TPR holds back
    rig.apics._changed()
    assert rig.c.vmcb.get(V.INTERCEPT_CR) & sdefs.INTERCEPT_CR8_WRITE
    assert rig.c.pending_interrupts() == 0
    rig.load("mov cr8, rax\nmov cr8, rcx\nhlt", rax=0x10, rcx=0)
    cr8_exit = svm_fakes_exit(sdefs.VMEXIT_CR8_WRITE)
    rig.script(cr8_exit)
    rig.c.run_slice = 1
    rig.c.run()
    ev = rig.c.vmcb.get(V.EVENTINJ)                 # bits 63:4 of CR8: #GP(0) at the MOV
    assert ev & sdefs.EVENT_VALID and ev & 0xFF == 13 and rig.c.rip == LOAD_ADDR
    rig.c.vmcb.set(V.EVENTINJ, 0)
    rig.c.rip = LOAD_ADDR + 4
    rig.script(cr8_exit, done(rig))
    rig.c.run_slice = None
    rig.c.run()
    assert get() == 0 and rig.c.rip == LOAD_ADDR + 10     # past the MOV (4), then the OUT
    assert not rig.c.vmcb.get(V.INTERCEPT_CR) & sdefs.INTERCEPT_CR8_WRITE
    assert rig.injected() == (0x41, None)           # delivered at the entry after the write


def rdmsr_step(rig):
    if rig.arch == "svm":
        return svm_fakes_exit(sdefs.VMEXIT_MSR, 0)

    def xstep(v, gprs):
        v[F.VM_EXIT_INSTRUCTION_LEN] = 2
        return xdefs.EXIT_RDMSR
    return xstep


@pytest.mark.parametrize("msr, value", [(0xFE, 0x508), (0x277, 0x0007040600070406),
                                        (0x1B, 0xFEE00900)])
def test_rdmsr_in_a_vm(rig, msr, value):
    # The architectural MSRs (every VM) and IA32_APIC_BASE (with the APIC)
    # answered inside the vCPU, EDX:EAX as RDMSR leaves them.
    rig.load("rdmsr\nhlt", rcx=msr, rflags=0x2)
    r = rig.vm_run(rdmsr_step(rig), rig.hlt())
    assert r.reason == "Halt"
    assert rig.reg("rdx") << 32 | rig.reg("rax") == value


def test_nmi_waits_for_the_handlers_iret(rig):
    # An NMI goes in at once; a second one, requested while the first one's
    # handler runs, waits for that handler's IRET: SVM intercepts the IRET
    # and injects once the guest's RIP has left it, VMX has virtual-NMI
    # blocking and the NMI window (the fake CPU sets the blocking itself).
    rig.load("hlt\nhlt\niretq\nhlt\nhlt", rflags=0x2)
    c = rig.c
    c.inject_nmi()
    if rig.arch == "svm":
        def first(v, gprs):
            c.inject_nmi()                          # the handler asks for another
            v.set(V.RIP, LOAD_ADDR + 2)
            return sdefs.VMEXIT_IRET                # and reaches its IRET
        def at_iret(v, gprs):
            return sdefs.VMEXIT_INTR                # a host interrupt, the guest still at its IRET
        def after_iret(v, gprs):
            v.set(V.RIP, LOAD_ADDR + 4)             # the IRET ran
            return sdefs.VMEXIT_INTR
        rig.native.vector = 0x20
        r = rig.vm_run(first, at_iret, after_iret, done(rig))
        assert r.reason == "DebugExit", r.report
        nmi = sdefs.event(2, sdefs.EVENT_TYPE_NMI)
        ev = [e[0] for e in rig.native.entries]
        assert ev[0] == nmi                         # the first
        assert rig.native.entries[1][3] & sdefs.INTERCEPT_IRET == 0
        assert ev[1] == 0 and ev[2] == 0            # at the IRET and after: still masked
        assert ev[3] == nmi                         # the RIP moved on from the IRET
    else:
        def first(v, gprs):
            c.inject_nmi()
            v[F.GUEST_INTERRUPTIBILITY_INFO] = xdefs.BLOCKING_BY_NMI
            v[F.VM_EXIT_INSTRUCTION_LEN] = 1
            return xdefs.EXIT_HLT
        def window(v, gprs):
            v[F.GUEST_INTERRUPTIBILITY_INFO] = 0    # the guest's IRET
            return xdefs.EXIT_NMI_WINDOW
        rig.vm_run(first, window, done(rig))
        nmi = xdefs.intr_info(2, xdefs.INTR_TYPE_NMI)
        entries = rig.native.entries
        assert entries[0][0] == nmi
        assert entries[1][0] & xdefs.INTR_VALID == 0
        assert entries[1][1] & xdefs.CPU_NMI_WINDOW_EXITING
        assert entries[2][0] == nmi and not entries[2][1] & xdefs.CPU_NMI_WINDOW_EXITING


def test_lint1_and_nmi_ipi_reach_the_vcpu(rig):
    rig.apics.attach(rig.c)
    lapic = rig.apics.lapic
    lapic.write(0xF0, 0x1FF)
    lapic.write(0x360, 4 << 8)                      # LINT1: NMI
    lapic.lint1()
    assert rig.c._nmi_pending and lapic.nmis == 0
