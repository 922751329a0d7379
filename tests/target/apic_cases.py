# The local APIC, I/O APIC and architectural MSRs on a booted mpvisor, as test
# functions that test_apic_qemu.py (AMD SVM, QEMU TCG) and test_apic_bochs.py
# (Intel VMX corei7_skylake_x, AMD SVM ryzen) import with their own
# module-scoped `repl` and `target` fixtures. The guest (tests/guests/apic.asm)
# prints a verdict per check and reports the LAPIC timer's TSC cycles on
# port 0x700; the rate is judged here against the CPU's TSC frequency.

SETUP = """
import hv, hw, guests

def run_apic():
    free0 = hv.frames.free_count()
    vm = hv.VM(16 << 20)
    try:
        c = vm.load_flat(guests.APIC, guests.LOAD, guests.LOAD, 'long')
        vm.vmm.enable_apic()
        report = []
        c.register_io(0x700, 1, None, lambda p, w, v: report.append(v))
        r = vm.run(c, echo=False, max_exits=2000000, time_budget=300)
        out = {'reason': r.reason, 'result': r.result, 'output': r.output.decode(),
               'report': report, 'text': r.report, 'hz': hw.tsc_hz(),
               'rdtscp': bool(hw.cpuid(0x80000001)[3] >> 27 & 1)}
    finally:
        vm.close()
    out['free_delta'] = hv.frames.free_count() - free0
    return out
"""

APIC_CHECKS = ["cpuid apic", "apic base", "id", "version", "esr", "self ipi", "tpr holds",
               "tpr lowered", "cr8 is tpr", "cr8 holds", "cr8 lowered", "one-shot", "periodic",
               "tsc deadline", "ioapic version", "ioapic bad index", "pit via ioapic pin 2",
               "x2apic version", "xapic page gone", "x2apic self ipi", "x2apic icr",
               "x2apic eoi read #gp", "x2apic to xapic #gp"]
MSR_CHECKS = ["mtrrcap", "mtrr def type", "pat", "pat #gp", "ucode rev", "tsc msr", "tsc_aux"]
VENDOR_CHECKS = {"amd": ["perf ctl0", "perf ctr3", "de_cfg", "hwcr"],
                 "intel": ["misc enable", "perfevtsel0", "cpuid pmu"]}
# The LAPIC timer against RDTSC: never early (the guest reads the TSC before
# it arms the timer); late by at most the exit path's latency, which under
# emulation (Python exits, TCG, Bochs) is milliseconds: +50% of the 20 ms
# one-shot, and 10 periods of 10 ms within -10% / +30% of 100 ms.
ONESHOT_S, PERIOD_S = 0.020, 0.010


def expected_output(got, vendor):
    rd = "rdtscp ok\n" if got["rdtscp"] else "rdtscp absent\n"
    return ("".join(c + " ok\n" for c in APIC_CHECKS + MSR_CHECKS) + rd
            + "".join(c + " ok\n" for c in VENDOR_CHECKS[vendor]) + "apic: bye\n")


def test_apic_guest(repl, target):
    got = repl.eval("run_apic()", timeout=target["timeout"])
    assert got["output"] == expected_output(got, target["vendor"]), (got["output"], got["text"])
    assert (got["reason"], got["result"]) == ("DebugExit", 0)
    assert got["free_delta"] == 0
    oneshot, periodic = got["report"]
    hz = got["hz"]
    assert 0.99 <= oneshot / (ONESHOT_S * hz) <= 1.5, (oneshot, hz)
    assert 0.9 <= periodic / (10 * PERIOD_S * hz) <= 1.3, (periodic, hz)
