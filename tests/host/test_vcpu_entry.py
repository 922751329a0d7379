"""The entry's extra work, decided once for both back ends (hv.vcpu.entry),
run over each back end's fakes: XSETBV's #GP rule (SDM 2B XSETBV, SDM 1
13.3), the guest's XCR0 loaded around the entry and the host's restored,
the slow entry taken only while there is work, and an event an exit cut
short injected again (APM2 15.7.2, SDM 3C 28.2.4). Also: CR/EFER/RFLAGS/XCR0
bits have one home (hv.x86.bits)."""
import ast
import pathlib

import pytest

from hv.x86 import bits
from hv.x86.regs import RAX, RCX, RDX
from hv.vcpu.svm import defs as sdefs
from hv.vcpu.vmx import defs as xdefs
from hv.vcpu.entry import SLOW_WAIT, SLOW_WORK, SLOW_XCR0
from mmio_rig import LOAD, Rig
import svm_fakes
import vmx_fakes

ARCHES = ("svm", "vmx")
X87, SSE, AVX = 1, 2, 4


@pytest.mark.parametrize("index, value, cpl, supported, faults", [
    (0, X87, 0, 0x7, False),
    (0, X87 | SSE | AVX, 0, 0x7, False),
    (0, SSE, 0, 0x7, True),                     # x87 is mandatory
    (0, X87 | AVX, 0, 0x7, True),               # AVX without SSE
    (0, X87 | SSE | 8, 0, 0x7, True),           # unsupported component
    (1, X87, 0, 0x7, True),                     # only XCR0 exists
    (0, X87, 3, 0x7, True),                     # CPL 3
    (0, X87 | 8, 0, 0x1F, True),                # BNDREGS without BNDCSR
    (0, X87 | 0x18, 0, 0x1F, False),            # both MPX components
    (0, X87 | SSE | AVX | 0x20, 0, 0xE7, True),     # AVX-512 partly
    (0, X87 | SSE | AVX | 0xE0, 0, 0xE7, False),    # AVX-512 whole
    (0, X87 | SSE | 0xE0, 0, 0xE7, True),           # AVX-512 without AVX
    (0, X87 | SSE | AVX | 1 << 17, 0, 0x60007, True),   # XTILECFG alone
    (0, X87 | SSE | AVX | 3 << 17, 0, 0x60007, False),
])
def test_xsetbv_fault_rule(index, value, cpl, supported, faults):
    assert bits.xsetbv_faults(index, value, cpl, supported) is faults


def _xsetbv_step(rig, rax, rcx=0, seen=None):
    # The guest's XSETBV exits with these registers; seen records the host's
    # XCR0 while the guest "runs" (the fake natives' step).
    def step(v, gprs):
        if seen is not None:
            seen.append(rig.m.hw.xcr0)
        rig.c.put_rax(rax)
        gprs[RCX], gprs[RDX] = rcx, 0
        if rig.arch == "svm":
            return sdefs.VMEXIT_XSETBV
        v[vmx_fakes.F.VM_EXIT_INSTRUCTION_LEN] = 3
        return xdefs.EXIT_XSETBV
    return step


@pytest.fixture(params=ARCHES)
def rig(request):
    r = Rig(request.param)
    yield r
    r.close()


def test_xsetbv_sets_the_guests_xcr0_and_the_host_keeps_its_own(rig):
    rig.load("xsetbv\nxsetbv\nxsetbv\nhlt")
    seen = []
    e = rig.run(_xsetbv_step(rig, 7, seen=seen), _xsetbv_step(rig, X87, seen=seen),
                _xsetbv_step(rig, 3, seen=seen), rig.hlt())
    assert e.reason == "Halt"
    # The entry after each XSETBV ran with the guest's value; the host's (3)
    # is back after each exit and after run().
    assert seen == [3, 7, 1] and rig.c.xcr0 == 3 and rig.m.hw.xcr0 == 3
    assert rig.c.rip == LOAD + 10


@pytest.mark.parametrize("rax, rcx", [(SSE, 0), (X87 | AVX, 0), (X87 | 8, 0), (X87, 1)])
def test_a_refused_xsetbv_is_gp0_and_does_not_advance(rig, rax, rcx):
    rig.load("xsetbv\nhlt")
    rig.run(_xsetbv_step(rig, rax, rcx), rig.stop())
    assert rig.injected() == (13, 0)
    assert rig.c.rip == LOAD and rig.c.xcr0 == rig.c.host_xcr0


def test_the_slow_entry_is_taken_only_while_there_is_work(rig):
    rig.load("hlt\nhlt\nhlt")
    rig.run(rig.hlt())                           # the first entry flushes
    assert not rig.c._slow[0]
    rig.c.inject_interrupt(0x30)
    assert rig.c._slow[0]
    rig.c.rflags = 0x202
    rig.run(rig.hlt())
    assert rig.injected() == (0x30, None) and not rig.c._slow[0]
    rig.c.set_xcr0(7)
    rig.run(rig.hlt())
    assert rig.c._slow[0] == SLOW_XCR0          # stays while XCR0 differs from the host's,
    rig.c.inject_interrupt(0x31)                # and events are work besides
    assert rig.c._slow[0] == SLOW_XCR0 | SLOW_WORK
    rig.run(rig.hlt())
    assert rig.injected() == (0x31, None) and rig.c._slow[0] == SLOW_XCR0
    rig.c.set_xcr0(rig.c.host_xcr0)
    rig.run(rig.hlt())
    assert not rig.c._slow[0]


def test_an_event_cut_short_by_an_exit_is_delivered_again(rig):
    # An external interrupt arrives while vector 0x30 is being delivered
    # through the IDT: the next entry injects 0x30 again.
    rig.load("hlt")
    if rig.arch == "svm":
        cut = svm_fakes.exit_with(sdefs.VMEXIT_INTR, exitintinfo=sdefs.event(0x30, sdefs.EVENT_TYPE_INTR))
        rig.m.svm.intr_vector = lambda: 0x20
    else:
        cut = vmx_fakes.exit_with(xdefs.EXIT_EXTERNAL_INTERRUPT, vm_exit_intr_info=0x80000020,
                                  idt_vectoring_info=0x80000030)
    e = rig.run(cut)
    assert e.reason == "ExternalInterrupt"
    rig.run(rig.hlt())
    assert rig.injected() == (0x30, None)


def test_an_instruction_exit_never_requeues(rig):
    # CPUID cannot interrupt event delivery: stale event information beside
    # it is ignored (both manuals: only the DELIVERY_EXITS report it).
    assert (sdefs.VMEXIT_CPUID not in rig.c.DELIVERY_EXITS if rig.arch == "svm"
            else xdefs.EXIT_CPUID not in rig.c.DELIVERY_EXITS)
    assert (sdefs.VMEXIT_INTR in rig.c.DELIVERY_EXITS if rig.arch == "svm"
            else xdefs.EXIT_EXTERNAL_INTERRUPT in rig.c.DELIVERY_EXITS)


# -- one home for the architectural bits -------------------------------------
HV = pathlib.Path(__file__).resolve().parents[2] / "py" / "hv"
NAMES = {n for n in dir(bits) if n.isupper()}


def _definitions():
    # (file, line, names, value node) of every module-level assignment whose
    # target, without a leading underscore, is a name hv.x86.bits defines.
    for path in sorted(HV.rglob("*.py")):
        if path.name == "bits.py" and path.parent.name == "x86":
            continue
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.Assign):
                continue
            for target in node.targets:
                names = [t.id for t in (target.elts if isinstance(target, ast.Tuple) else [target])
                         if isinstance(t, ast.Name)]
                hits = [n for n in names if n.lstrip("_") in NAMES]
                if hits:
                    yield path.relative_to(HV), node.lineno, names, node.value


def test_bits_are_defined_once_and_folded_copies_agree():
    bad = []
    for path, line, names, value in _definitions():
        ok = (len(names) == 1 and names[0].startswith("_") and isinstance(value, ast.Call)
              and getattr(value.func, "id", None) == "const"
              and eval(compile(ast.Expression(value.args[0]), "x", "eval")) == getattr(bits, names[0][1:]))
        if not ok:
            bad.append("%s:%d %s" % (path, line, ", ".join(names)))
    assert not bad, "copies of hv.x86.bits outside it (import them, or fold one as _NAME = const(...)): " + "; ".join(bad)
    assert any(True for _ in _definitions())    # the scan sees the folded copies (dispatch, ticks, gwalk)


def test_a_flush_asked_for_inside_a_flushing_entry_is_kept(rig):
    # The natives' tier one calls handlers inside the entry (port/tier.h):
    # a flush one asks for while the entry flushes is the next entry's work.
    rig.load("hlt\nhlt\nhlt")
    rig.run(rig.hlt())
    rig.c.flush_tlb()                            # this entry flushes
    hlt = rig.hlt()

    def step(v, gprs):
        rig.c.flush_tlb()                        # a handler's, during the entry
        return hlt(v, gprs)
    rig.run(step)
    assert rig.c._tlb_flush and rig.c._slow[0] & SLOW_WORK
    rig.run(rig.hlt())
    assert not rig.c._tlb_flush and not rig.c._slow[0]


def test_an_interrupt_the_guest_cannot_take_yet_waits_for_its_window(rig):
    # SLOW_WAIT, not SLOW_WORK: the slow entry armed the window, which exits
    # when the guest can take it, so the natives' tier one may go on.
    rig.load("hlt\nhlt\nhlt")
    rig.run(rig.hlt())
    rig.c.rflags = 0x2                           # IF = 0
    rig.c.inject_interrupt(0x30)
    assert rig.c._slow[0] == SLOW_WORK
    rig.run(rig.hlt())
    assert rig.c.pending_interrupts() == 1 and rig.c._slow[0] == SLOW_WAIT
