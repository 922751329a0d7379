# Host tests for how vm.run() ends a hostile or broken guest, over the fake
# natives: unhandled ports and unknown hypercalls stop the VM (and run()
# again repeats the instruction once allowed), exit and time budgets, the
# vCPU's slice for exits it handles itself, the watchdog timers, exceptions
# in handlers (HandlerError, reraise, Ctrl-C untouched), the report's text
# and the EFER write rules.
import pytest

from hv.x86 import efer
from hv.vmm import report
from hv.x86.regs import RAX, RCX, RDX
from hv.vcpu.svm import defs, percpu, vmcb as V
from hv.host.frame import OutOfFrames
from hv.vmm.trace import Ring
from hv.vmm.run import EXIT_BUDGET, HC_EINVAL, HC_INJECT, Vmm
from svm_fakes import MiB, Machine, exit_with
from test_vmm_devices import io, out8
from time_fakes import Timer, Tsc


@pytest.fixture(autouse=True)
def _fresh_percpu():
    percpu._owner.state = None
    yield
    percpu._owner.state = None


def guest(m, timer=None, code=b"\x0f\xa2" * 256):
    vm = m.vm(16 * MiB)
    tsc = Tsc(step=50)
    m.use_tsc(tsc)                                  # the natives' TSC too
    vm.vmm = Vmm(vm, tsc=tsc, hz=lambda: 1_000_000, timer=timer or Timer())
    m.hw.console_getc = lambda: None
    c = vm.new_vcpu()
    c.set_entry(0x10000)
    c.setup("protected")
    vm.write(0x10000, code)                         # default: CPUIDs, as the exits say
    return vm, c


def vmmcall(nr):
    def step(v, gprs):
        v.set(V.RAX, nr)
        return defs.VMEXIT_VMMCALL
    return step


def test_unhandled_port_stops_the_vm_and_run_again_repeats_it(capsys):
    m = Machine()
    vm, c = guest(m)
    vm.vmm.unhandled_io = "stop"                      # strict (the PC's default reads all ones)
    m.svm.steps = [out8(0x80, 1), io(0x260, defs.IOIO_SZ8, True)]
    r = vm.run(c)                                     # echo on: the report is printed
    assert (r.reason, r.exit.port, c.rip) == ("UnhandledPort", 0x260, 0x10001)
    assert r.report.startswith("VM stopped: the guest read port 0x260 (1 byte), which no device "
                               "handles; to allow it, set vm.vmm.ports[0x260] = value")
    assert r.report + "\n" in capsys.readouterr().out and not r.ok
    vm.vmm.ports[0x260] = 0x5A                         # allowed: the IN runs again and completes
    m.svm.steps = [io(0x260, defs.IOIO_SZ8, True), out8(0xF4, 0)]
    r = vm.run(c, echo=False, trace=True)
    assert r.result == 0 and r.trace[0] == ("IoRead", 0x260, 1, 0x5A) and r.ok
    vm.close()


def test_ports_no_device_has_float_high_by_default():
    m = Machine()
    vm, c = guest(m)
    assert vm.vmm.unhandled_io == "pc"
    m.svm.steps = [io(0x260, defs.IOIO_SZ16, True), out8(0x261, 1), out8(0xF4, 2)]
    r = vm.run(c, echo=False, trace=True)
    assert r.result == 2 and r.trace[:2] == [("IoRead", 0x260, 2, 0xFFFF), ("IoWrite", 0x261, 1, 1)]
    vm.close()


def test_unknown_hypercall_stops_the_vm(capsys):
    m = Machine()
    vm, c = guest(m, code=b"\x0f\x01\xd9" * 4)
    m.svm.steps = [vmmcall(0x4D0)]
    r = vm.run(c, echo=False)
    assert (r.reason, r.exit.nr, c.rip) == ("UnknownHypercall", 0x4D0, 0x10000)
    assert "register vm.vmm.hypercalls[0x4d0] = fn(vcpu, args) returning RAX" in r.report
    assert capsys.readouterr().out == ""              # echo off: kept in r.report only
    vm.close()


def test_inject_hypercall_refuses_exception_vectors():
    m = Machine()
    vm, c = guest(m, code=b"\x0f\x01\xd9" * 4)
    for vector, result, queued in ((0, HC_EINVAL, 0), (31, HC_EINVAL, 0), (256, HC_EINVAL, 0),
                                   (0x40, 0, 1)):
        c._irq_queue.clear()
        got = vm.vmm.hypercalls[HC_INJECT](c, (vector, 0, 0, 0, 0, 0))
        assert (got, c.pending_interrupts()) == (result, queued)
    vm.close()


def test_exit_budget_counts_the_exits_the_vcpu_handles_itself():
    m = Machine()
    vm, c = guest(m)
    assert vm.vmm.exit_budget == EXIT_BUDGET
    m.svm.steps = [out8(0x80, 1)] * 10
    r = vm.run(c, echo=False, max_exits=7)
    assert (r.reason, r.exits) == ("ExitBudget", 7) and len(m.svm.steps) == 3
    assert "the guest made 7 exits without ending (an exit storm?)" in r.report
    assert "last 7 exits of the 7 the VMM saw:\n  [exit 1] IoWrite port=0x80 width=1 data=0x1 " \
           "(POST) at rip 0x10000" in r.report
    # CPUIDs never reach the VMM: the vCPU returns 'Nothing' after its slice
    cpuid = exit_with(defs.VMEXIT_CPUID, rax=0x40000000)
    c.rip = 0x10000
    m.svm.steps = [cpuid] * 200 + [exit_with(defs.VMEXIT_SHUTDOWN)]
    vm.vmm.exit_budget = 100
    import hv.vmm.run as vmm
    slice0, vmm.SLICE = vmm.SLICE, 64
    try:
        r = vm.run(c, echo=False)
    finally:
        vmm.SLICE = slice0
    assert (r.reason, r.exits, r.exit.reason) == ("ExitBudget", 100, "Nothing")
    assert "the vCPU handled the last ones itself" in r.report and c.run_slice is None
    vm.vmm.exit_budget = None                         # no limit: the rest runs to the HLT
    r = vm.run(c, echo=False)
    assert (r.reason, r.exits) == ("SystemDown", 101)
    vm.close()


def test_time_budget_and_the_host_timer_as_watchdog():
    m = Machine()
    timer = Timer()
    vm, c = guest(m, timer)                           # Tsc: 50 us per read at 1 MHz

    def spin(v, gprs):                                # the host timer's interrupt
        return defs.VMEXIT_INTR
    m.svm.vector = 32
    m.svm.steps = [spin] * 1000
    r = vm.run(c, echo=False, time_budget=0.002)
    assert r.reason == "TimeBudget" and 5 < r.exits < 1000
    assert timer.armed[0] == 0.05 and timer.armed[-1] is None   # armed for the run only
    assert "the guest ran for 0.00 s without ending, past vm.vmm.time_budget" in r.report
    timer.armed.clear()
    m.svm.steps = [out8(0xF4, 0)]
    assert vm.run(c, echo=False).result == 0 and timer.armed == [None]   # no budget: not armed
    vm.close()


def test_exception_in_a_handler_ends_the_vm(capsys):
    m = Machine()
    vm, c = guest(m, code=b"\x0f\x01\xd9" * 4)

    def broken(vcpu, args):
        return 1 // 0
    vm.vmm.hypercalls[0x4D0] = broken
    m.svm.steps = [vmmcall(0x4D0)]
    r = vm.run(c, echo=False)
    assert (r.reason, type(r.error)) == ("HandlerError", ZeroDivisionError) and not c._bound
    out = capsys.readouterr().out                     # printed although echo is off
    assert out.startswith("VM stopped: a Python exit handler raised ZeroDivisionError")
    assert "exit: Hypercall nr=0x4d0" in out and "guest: rip 0x10003 in 32-bit protected mode" in out
    assert "Traceback (most recent call last)" in out and "in broken" in out
    m.svm.steps = [vmmcall(0x4D0)]
    with pytest.raises(ZeroDivisionError):
        vm.run(c, echo=False, report=False, reraise=True)
    assert not c._bound and capsys.readouterr().out == ""

    def bad_stop(e):
        raise ValueError("stop callback bug")
    vm.vmm.hypercalls[0x4D0] = lambda vcpu, args: 0
    m.svm.steps = [vmmcall(0x4D0)]
    r = vm.run(c, echo=False, report=False, stop=bad_stop)
    assert (r.reason, str(r.error)) == ("HandlerError", "stop callback bug") and not c._bound

    def stop(e):
        raise KeyboardInterrupt
    vm.vmm.hypercalls[0x4D0] = lambda vcpu, args: 0
    m.svm.steps = [vmmcall(0x4D0)]
    with pytest.raises(KeyboardInterrupt):            # Ctrl-C semantics unchanged
        vm.run(c, echo=False, stop=stop)
    assert not c._bound
    c.rip = 0x10000
    m.svm.steps = [out8(0xF4, 5)]                      # and the vCPU runs on
    assert vm.run(c, echo=False).result == 5
    vm.close()


def test_report_mode_and_ring():
    assert report.mode(0x10, 0, 16) == "real mode"
    assert report.mode(0x11, 0, 32) == "32-bit protected mode, paging off"
    assert report.mode(0x80000011, 0x500, 64) == "64-bit long mode"
    assert report.mode(0x80000011, 0x500, 32) == "compatibility mode (32-bit code)"
    ring = Ring(3)
    assert ring.entries() == []
    for n in range(1, 6):
        ring.add(n, ("Halt",), n)
    assert [e[0] for e in ring.entries()] == [3, 4, 5] and ring.count == 5


def test_efer_write_rules():
    every = 1 << 11 | 1 << 20 | 1 << 29               # SYSCALL, NX, LM
    assert not efer.write_faults(0xD01, 0x500, False, every)
    assert efer.write_faults(0x4, 0, False, every)                    # reserved bit
    assert efer.write_faults(1 << 12, 0, False, every)                # SVME: not the guest's
    assert efer.write_faults(0x800, 0, False, 1 << 29)                # NXE without NX
    assert efer.write_faults(0x100, 0, True, every)                   # LME with paging on
    assert not efer.write_faults(0x501, 0x500, True, every)           # LME unchanged


def test_svm_efer_write_with_paging_on_faults():
    m = Machine()
    vm, c = guest(m)
    c.bind()
    c.vmcb.set(V.CR0, c.vmcb.get(V.CR0) | 1 << 31)
    c.gprs[RCX], c.gprs[RDX] = 0xC0000080, 0
    m.svm.steps = [exit_with(defs.VMEXIT_MSR, 1, rax=0x100), exit_with(defs.VMEXIT_SHUTDOWN)]
    assert c.run().reason == "SystemDown"
    assert m.svm.entries[1][0] == defs.event(13, defs.EVENT_TYPE_EXCEPTION, 0)
    assert not c.vmcb.get(V.EFER) & 0x100
    vm.close()


def test_vmx_efer_sees_paging_the_guest_turned_on_without_an_exit():
    from hv.vcpu.vmx import defs as X, fields as F, percpu as vpercpu
    from vmx_fakes import Machine as VmxMachine, exit_with as vexit
    vpercpu._owner.state = None
    m = VmxMachine()
    vm = m.vm(16 * MiB)
    c = vm.new_vcpu()
    c.setup("protected")
    c.bind()
    v = m.vmx.vmcs[m.vmx.current]
    v[F.GUEST_CR0] |= 1 << 31                         # PG set natively: the shadow is stale
    c.gprs[RCX], c.gprs[RAX], c.gprs[RDX] = 0xC0000080, 0x100, 0
    m.vmx.steps = [vexit(X.EXIT_WRMSR, vm_exit_instruction_len=2),
                   vexit(X.EXIT_HLT, vm_exit_instruction_len=1)]
    assert c.run().reason == "Halt"
    assert m.vmx.entries[1][0] >> 31 and m.vmx.entries[1][0] & 0xFF == 13      # #GP injected
    assert not v[F.GUEST_IA32_EFER] & 0x100
    assert c.control_regs()[0] & 1 << 31
    rate = c.caps.misc & X.MISC_PREEMPTION_TIMER_RATE_MASK
    assert c.set_watchdog(1 << 20) and v[F.VMX_PREEMPTION_TIMER_VALUE] == (1 << 20) >> rate
    assert v[F.PIN_BASED_VM_EXEC_CONTROL] & X.PIN_PREEMPTION_TIMER
    c.set_watchdog(None)
    assert not v[F.PIN_BASED_VM_EXEC_CONTROL] & X.PIN_PREEMPTION_TIMER
    vm.close()
    vpercpu._owner.state = None


def test_unknown_mmio_instruction_and_no_frame_for_ram_end_the_vm_by_name():
    m = Machine()
    vm, c = guest(m, code=b"\xff\x05\x00\x00\xd0\xfe")      # inc dword [0xFED00000]
    m.svm.steps = [exit_with(defs.VMEXIT_NPF, 0x100000006, 0xFED00000)]
    r = vm.run(c, echo=False)
    assert (r.reason, type(r.error)) == ("Unsupported", NotImplementedError)
    assert r.report.startswith("VM stopped: the guest did what mpvisor cannot virtualize yet: "
                               "MMIO access at guest-physical 0xfed00000 from rip 0x10000: "
                               "not an instruction the MMIO emulator handles: ff.")
    assert "Traceback" not in r.report and c.rip == 0x10000
    held = []
    while True:
        pa = m.allocator.alloc_frame()
        if pa is None:
            break
        held.append(pa)
    m.svm.steps = [exit_with(defs.VMEXIT_NPF, 0x100000006, 0x300000)]   # first touch of RAM
    r = vm.run(c, echo=False)
    assert (r.reason, type(r.error)) == ("OutOfFrames", OutOfFrames)
    assert r.report.startswith("VM stopped: the host has no frame left to back the guest's RAM "
                               "(out of physical frames for ") and ", 0 free)." in r.report
    for pa in held:
        m.allocator.dealloc_frame(pa)
    m.svm.steps = [exit_with(defs.VMEXIT_NPF, 0x100000006, 0x300000), out8(0xF4, 7)]
    assert vm.run(c, echo=False).result == 7                # frames back: the same VM goes on
    vm.close()
