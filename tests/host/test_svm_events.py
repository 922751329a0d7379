# Host tests for SVM event delivery and TLB management against fake natives:
# interrupt injection by EVENTINJ or through the window (V_IRQ + VINTR), HLT
# with a deliverable interrupt, EXITINTINFO re-injection, TLB_CONTROL.
import pytest

from hv.vcpu.svm import defs, percpu, vmcb as V
from svm_fakes import MiB, Machine, exit_with


@pytest.fixture(autouse=True)
def _fresh_percpu():
    percpu._owner.state = None
    yield
    percpu._owner.state = None


def long_vcpu(m):
    vm = m.vm(16 * MiB)
    c = vm.new_vcpu()
    c.set_entry(0x10000)
    c.setup("long")
    c.bind()
    return vm, c


def code_at(vm, c, rip, code):
    vm.write(rip, code + b"\x00" * 16)
    c.rip = rip


def test_interrupt_injection_direct_and_through_the_window():
    m = Machine()
    vm, c = long_vcpu(m)
    code_at(vm, c, 0x10000, b"\xf4" * 8)
    c.rflags = 0x202                                   # IF = 1
    c.inject_interrupt(0x40)
    m.svm.steps = [exit_with(defs.VMEXIT_HLT, rflags=0x2)]
    c.run()
    assert m.svm.entries[-1][0] == defs.event(0x40, defs.EVENT_TYPE_INTR)
    # IF = 0 now: the next interrupt waits for the window (V_IRQ + VINTR intercept)
    c.inject_interrupt(0x41)
    m.svm.steps = [exit_with(defs.VMEXIT_HLT, rflags=0x2)]
    c.run()
    ev, vintr, _, misc1 = m.svm.entries[-1]
    assert not ev & defs.EVENT_VALID and vintr & defs.V_IRQ and misc1 & defs.INTERCEPT_VINTR
    m.svm.steps = [exit_with(defs.VMEXIT_VINTR, rflags=0x202), exit_with(defs.VMEXIT_HLT, rflags=0x2)]
    c.run()
    ev, vintr, _, misc1 = m.svm.entries[-1]
    assert ev == defs.event(0x41, defs.EVENT_TYPE_INTR)
    assert not vintr & defs.V_IRQ and not misc1 & defs.INTERCEPT_VINTR
    with pytest.raises(ValueError):
        c.inject_interrupt(3)
    vm.close()


def test_halt_with_a_deliverable_interrupt_is_not_an_exit():
    m = Machine()
    vm, c = long_vcpu(m)
    code_at(vm, c, 0x10000, b"\xf4\xf4")
    c.rflags = 0x2
    c.inject_interrupt(0x40)                           # IF = 0: window
    m.svm.steps = [exit_with(defs.VMEXIT_HLT, rflags=0x202), exit_with(defs.VMEXIT_HLT, rflags=0x2)]
    assert c.run().reason == "Halt"
    assert m.svm.entries[-1][0] == defs.event(0x40, defs.EVENT_TYPE_INTR)
    vm.close()


def test_event_cut_short_is_reinjected():
    m = Machine()
    vm, c = long_vcpu(m)
    code_at(vm, c, 0x10000, b"\xf4")
    pending = defs.event(0x40, defs.EVENT_TYPE_INTR)
    m.svm.steps = [exit_with(defs.VMEXIT_NPF, 0x100000006, 0x5000, exitintinfo=pending),
                   exit_with(defs.VMEXIT_HLT)]
    assert c.run().reason == "NestedPageFault"
    c.run()
    assert m.svm.entries[-1][0] == pending
    vm.close()


def test_tlb_flushed_on_first_run_and_after_unmap():
    m = Machine()
    vm, c = long_vcpu(m)
    code_at(vm, c, 0x10000, b"\xf4" * 3)
    m.svm.steps = [exit_with(defs.VMEXIT_HLT)] * 3
    c.run()
    c.run()
    vm.write(0x50000, b"data")
    vm.unmap(0x50000, 0x1000)
    c.run()
    assert [e[2] for e in m.svm.entries] == [defs.TLB_CONTROL_FLUSH_ASID, 0, defs.TLB_CONTROL_FLUSH_ASID]
    assert c.vmcb.get(V.TLB_CONTROL) == 0
    vm.close()
