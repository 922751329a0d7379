"""The guest scenarios every vCPU back end runs: {name, guest, expected exits,
expected output}. Host-side data (CPython), used by tests/target/test_svm_guests.py
and, later, the VMX tests. Each guest is tests/guests/<guest>.asm, loaded at
LOAD and run by hv.run_guest under the VMM of py/hv/vmm/run.py with the ports and
MSRs below. Exits are the VMM's trace (COM1 traffic is in the output instead);
`output` lines are the guest's COM1 text, where a tuple means one of its
alternatives, picked by `pick`; `skip` names emulators that cannot run it, and why.
"""

LOAD = 0x10000
TEST_PORT, TEST_PORT_VALUE = 0x600, 0xA5A5A5A5     # tests/guests/common.inc
TEST_MSR = 0x4D500001
HC_ADD, HC_INJECT = 1, 2
IRQ_DIRECT, IRQ_WINDOW = 0x40, 0x41
VMM = dict(ports={TEST_PORT: TEST_PORT_VALUE}, msrs={TEST_MSR: 0})
XSAVE_LINE = ("xsetbv ok", "xsetbv skipped")         # the CPU has XSAVE / has not


def _checks(mode):
    return [f"{mode}: hello", "cpuid ok", "cpuid hv bit ok", "vmmcall ok", "msr ok"]


def _common_exits(add_args, in_width, in_value, scratch, extra=()):
    return ([("Hypercall", HC_ADD, add_args),
             ("SysRegWrite", TEST_MSR, 0x123456789ABCDEF0),
             ("SysRegRead", TEST_MSR)]
            + list(extra)
            + [("IoRead", TEST_PORT, 4, TEST_PORT_VALUE),
               ("IoRead", TEST_PORT, in_width, in_value),
               ("NestedPageFault", scratch, "w"),
               ("Hypercall", HC_INJECT, (IRQ_DIRECT, 0, 0, 0, 0, 0)),
               ("Hypercall", HC_INJECT, (IRQ_WINDOW, 0, 0, 0, 0, 0)),
               ("Halt",)])


_IRQ_LINES = ["irq ok", "irq held ok", "irq window ok"]

SCENARIOS = [
    dict(name="real", guest="real16", mode="real", vmm=VMM, reason="Halt",
         exits=_common_exits((1, 2, 3, 4, 0, 0), 1, 0xA5, 0x80030),
         output=_checks("real") + ["in ok", "page ok"] + _IRQ_LINES + ["real: bye"]),
    dict(name="protected", guest="prot32", mode="protected", vmm=VMM, reason="Halt",
         exits=_common_exits((1, 2, 3, 4, 0, 0), 2, 0xA5A5, 0x200020),
         output=_checks("protected") + ["in ok", "page ok"] + _IRQ_LINES + ["protected: bye"]),
    dict(name="long", guest="long64", mode="long", vmm=VMM, reason="Halt",
         exits=_common_exits((1, 2, 3, 4, 5, 6), 1, 0xA5, 0x200010,
                             extra=[("SysRegRead", TEST_MSR + 1)]),
         output=_checks("long") + ["msr #gp ok", "in ok", "page ok", XSAVE_LINE]
         + _IRQ_LINES + ["long: bye"]),
    dict(name="triple-fault", guest="triple", mode="protected", vmm={}, reason="SystemDown",
         exits=[("SystemDown",)], output=[],
         skip={"bochs": "Bochs 2.7 stops the whole simulation on a guest triple fault "
                        "(exception.cc panics before any SHUTDOWN intercept check)"}),
    dict(name="mmio-hole", guest="mmio", mode="long", vmm={}, reason="UnhandledMmio",
         exits=[("MmioRead", 0x3000000, 4)], output=[]),
]


# What the target runs (the tests exec it once per boot): a scenario as the
# table has it (trace on: every exit goes up to the VMM), and the same
# guest with every exit that can stay inside the vCPU staying there (no
# trace: the natives' tier one, port/tier.h, answers the registered ports,
# MSRs and hypercalls), where the guest's own checks must pass the same.
# There, a registered handler refuses the MSR the long-mode guest expects
# #GP from (GuestFault), so that fault is the natives' path too.
RUNNER = """
import hv, hw, guests
from hv.vcpu.api import GuestFault

def run_scenario(guest, mode, vmm):
    free0 = hv.frames.free_count()
    r = hv.run_guest(guests.ALL[guest], mode, trace=True, echo=False, max_exits=100000, **vmm)
    return {'reason': r.reason, 'exits': r.trace, 'output': r.output.decode(),
            'free_delta': hv.frames.free_count() - free0}

def run_inside(guest, mode, vmm):
    free0 = hv.frames.free_count()
    native = __import__('svm' if hv.vendor() == 'amd' else 'vmx')
    faults = []
    def refuse(msr):
        faults.append(msr)
        raise GuestFault(13, 0)
    vm = hv.VM(16 << 20)
    try:
        c = vm.new_vcpu()
        vm.write(%d, guests.ALL[guest])
        c.set_entry(%d)
        c.setup(mode)
        vm.vmm.ports.update(vmm.get('ports', {}))
        vm.vmm.msrs.update(vmm.get('msrs', {}))
        c.register_msr(%d, refuse, None)
        s0 = native.fast_served()
        r = vm.run(c, echo=False, max_exits=100000)
        served = native.fast_served() - s0
    finally:
        vm.close()
    return {'reason': r.reason, 'output': r.output.decode(), 'faults': faults, 'served': served,
            'exits': r.exits, 'free_delta': hv.frames.free_count() - free0}

XSAVE = bool(hw.cpuid(1)[2] & (1 << 26))
""" % (LOAD, LOAD, TEST_MSR + 1)


def check_inside(got, scenario, xsave):
    """run_inside()'s result against the scenario: the same output, end and
    frames; the long-mode guest's #GP came from the refusing handler."""
    assert got["output"] == expected_output(scenario, xsave)
    assert got["reason"] == scenario["reason"]
    assert got["faults"] == ([TEST_MSR + 1] if scenario["guest"] == "long64" else [])
    assert got["free_delta"] == 0, "frames leaked by the VM"
    assert got["served"] < got["exits"]


def pick(line, xsave):
    """The expected text of an output line for a CPU with/without XSAVE."""
    if isinstance(line, tuple):
        return line[0] if xsave else line[1]
    return line


def expected_output(scenario, xsave):
    return "".join(pick(line, xsave) + "\n" for line in scenario["output"])
