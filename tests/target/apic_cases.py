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
        report, ticks = [], vm.vmm.platform.ticks
        c.register_io(0x700, 1, None, lambda p, w, v: report.append((v, ticks.stolen)))
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
               "tpr lowered", "cr8 is tpr", "cr8 holds", "cr8 lowered", "nmi self ipi",
               "nmi blocked until iret", "one-shot", "periodic",
               "tsc deadline", "ioapic version", "ioapic bad index", "pit via ioapic pin 2",
               "x2apic version", "xapic page gone", "x2apic self ipi", "x2apic icr",
               "x2apic eoi read #gp", "x2apic to xapic #gp"]
MSR_CHECKS = ["mtrrcap", "mtrr def type", "pat", "pat #gp", "ucode rev", "tsc msr", "tsc_aux"]
VENDOR_CHECKS = {"amd": ["perf ctl0", "perf ctr3", "de_cfg", "hwcr"],
                 "intel": ["misc enable", "perfevtsel0", "cpuid pmu"]}
# The LAPIC timer against RDTSC. Its counts run on guest time, which leaves
# out the VMM's time from each exit to the next entry (hv.vmm.ticks.stolen;
# under Bochs an exit through Python costs more emulated time than a 10 ms
# period), and so does the guest's TSC (the natives load -stolen as its
# offset), so the guest's RDTSC interval must be the programmed time, and
# host time over it (that interval plus the VMM's time in it) no shorter.
# Both run from the guest's RDTSC before it arms the timer to the delivery
# of its last interrupt (the one-shot's, the periodic's tenth), so neither
# is ever early: -1%; the delivery after the expiry is late by up to the
# exit that brings it (the world switches' own instructions count as the
# guest's, 2.3 ms under Bochs ryzen at its 10 MHz TSC): +10%. A first
# periodic tick a whole second late (ten periods read 10.7x: a garbage
# collection in the VMM's wait for the deadline counted as the guest's
# time, hv.vmm.ticks.Ticks._woken_at) fails here; measured from the first
# delivery instead, as before, it did not. Host time over the interval was
# +27% and +41% under QEMU, which the guest's RDTSC read before its TSC was
# offset.
ONESHOT_S, PERIOD_S = 0.100, 0.010
MARK = 0xFFFFFFFF


def rates(report, hz):
    """(host-time, guest-time) ratios of the one-shot and of 10 periods to
    the programmed times, from the guest's (mark, stolen), (cycles, stolen)
    pairs: its RDTSC cycles are guest time."""
    (m0, s0), (oneshot, s1), (m1, s2), (periodic, s3) = report
    assert m0 == MARK and m1 == MARK, report
    one, ten = ONESHOT_S * hz, 10 * PERIOD_S * hz
    return ((oneshot + (s1 - s0)) / one, oneshot / one,
            (periodic + (s3 - s2)) / ten, periodic / ten)


def expected_output(got, vendor):
    rd = "rdtscp ok\n" if got["rdtscp"] else "rdtscp absent\n"
    return ("".join(c + " ok\n" for c in APIC_CHECKS + MSR_CHECKS) + rd
            + "".join(c + " ok\n" for c in VENDOR_CHECKS[vendor]) + "apic: bye\n")


def test_apic_guest(repl, target):
    got = repl.eval("run_apic()", timeout=target["timeout"])
    assert got["output"] == expected_output(got, target["vendor"]), (got["output"], got["text"])
    assert (got["reason"], got["result"]) == ("DebugExit", 0)
    assert got["free_delta"] == 0
    raw1, guest1, raw10, guest10 = r = rates(got["report"], got["hz"])
    assert 0.99 <= guest1 <= 1.1 and raw1 >= 0.99, (r, got["report"], got["hz"])
    assert 0.99 <= guest10 <= 1.1 and raw10 >= 0.99, (r, got["report"], got["hz"])
