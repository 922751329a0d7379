# The small VMM behind vm.run(): the guest's ports go to the PC it sees
# (hv.vmm.platform: PIC, PIT, COM1 forwarded to the real console, isa-debug-exit,
# POST), ports and MSRs the VMM answers, a few hypercalls, MMIO devices the
# vCPU registered, fresh zeroed RAM on a NestedPageFault inside guest RAM;
# whatever else the guest does ends its VM with a report (hv.vmm.report).
# Arch-neutral; bare metal and CPython.
import sys
from micropython import const
from hv.vmm import exits as _exits, report as _report, trace as _trace
from hv.vmm.result import RunResult
from hv.vmm.console import MARKERS, Watch
from hv.host.rtc import read_epoch
from hv.host.timer import HostTimer
from hv.vmm.platform import Platform, acpi_tables
from hv.host.frame import OutOfFrames
from hv.vcpu.api import UnexpectedExit

HC_ADD = const(1)                       # returns the sum of the six arguments
HC_INJECT = const(2)                    # queue interrupt args[0] for this vCPU
HC_EINVAL = const(0xFFFFFFFFFFFFFFFF)   # -1: a hypercall's argument is out of range
ACPI_BASE = const(0xE0000)      # hv.vmm.acpi.BASE: the RSDP and the tables after it
ACPI_MIN_RAM = const(0x100000)  # less RAM: no BIOS area, no tables
EXIT_BUDGET = const(50000000)   # default vm.vmm.exit_budget: ~10 minutes of exits under TCG
SLICE = const(4096)             # exits a vCPU handles itself before vm.run() looks at the budgets
WATCHDOG_S = 0.05               # the longest a guest runs without an exit, where a timer can tell


def _console_writer():
    out = getattr(sys.stdout, "buffer", None)
    return out.write if out is not None else (lambda b: sys.stdout.write(bytes(b).decode()))


class Vmm:
    """vm.vmm: `ports` (port -> value IN returns, OUT stores; before the
    platform's devices), `msrs` (likewise for RDMSR/WRMSR), `hypercalls`
    (nr -> fn(vcpu, args) returning RAX), `platform` and its `uart`
    (prefix, colour). `unhandled_io` says what a port no device handles
    and an access outside RAM no MMIO device (vcpu.register_mmio) handles
    do: 'pc' (the default, a PC's open bus for ports: reads all ones,
    writes dropped; such an MMIO access still ends the VM), 'stop' (strict:
    both end the VM, as tests and traces want) or 'absent' (both read all
    ones, writes dropped). What else ends a VM: an unknown hypercall, more
    than `exit_budget` exits or `time_budget` seconds in one run() (None:
    no limit), an exception in a handler, a console line with one of
    `markers` ((bytes, reason), or (bytes, reason, True) for one that ends
    no line: hv.vmm.console; a Linux panic by default).
    `recent`: the last exits (hv.vmm.trace.Ring)."""

    def __init__(self, vm, tsc=None, hz=None, timer=None, host_time=None):
        self.vm = vm
        self.ports = {}
        self.msrs = {}
        self.hypercalls = {HC_ADD: self._hc_add, HC_INJECT: self._hc_inject}
        self.unhandled_io = "pc"
        self.exit_budget = EXIT_BUDGET
        self.time_budget = None
        self.markers = MARKERS
        self.recent = None
        self._port_keys, self._msr_keys = set(), set()
        io = vm.io
        self._tsc = tsc or (lambda: io.rdtsc())
        self._hz = hz or (lambda: io.tsc_hz())
        if host_time is None and hasattr(io, "inb"):
            host_time = lambda: read_epoch(io.inb, io.outb)     # the host's CMOS clock
        self.platform = Platform(self._tsc, self._hz, timer or HostTimer(io), host_time,
                                 vm.mem_size)
        if vm.arch in ("intel", "amd"):
            self.platform.add_msrs(vm.arch, vm.cpuid, io)
        self.uart = self.platform.uart
        self._bios_done = False

    def enable_apic(self):
        """Give the guest a local APIC (xAPIC page at 0xFEE00000, x2APIC
        MSRs, CPUID bits) and the I/O APIC at 0xFEC00000 with the ISA IRQs
        routed to it (hv.vmm.apic); the PIC stays wired through LINT0.
        Before the first run: the guest has seen a PC without them then."""
        if self._bios_done and self.platform.apic is None:
            raise RuntimeError("enable_apic() must come before the VM's first run: its "
                               "guest already found a PC without APICs (no MADT, CPUID)")
        return self.platform.add_apic(self.vm.cpuid)

    def close(self):
        """The VM is closed: the platform lets go of its devices and the VMM
        of the platform (`uart` stays, with the guest's output). MicroPython's
        GC is conservative: a stale word that reads as a pointer to the
        closed VM (on the stack, in a bytearray) then keeps a few objects,
        not the whole machine (8-24 KiB that test_resources saw)."""
        p = self.platform
        if p is not None:
            p.close()
            self.platform = None

    def _hc_add(self, vcpu, args):
        return sum(args)

    def _hc_inject(self, vcpu, args):
        # Vectors 0-31 are exceptions (SDM 3A 6.3.1): not the guest's to ask for.
        if not 32 <= args[0] <= 255:
            return HC_EINVAL
        vcpu.inject_interrupt(args[0])
        return 0

    def run(self, vcpu, trace=False, echo=True, max_exits=None, stop=None, time_budget=None,
            report=None, reraise=False):
        """Run until the guest writes port 0xF4, halts for good, shuts down,
        or does what the VMM will not handle, or stop(exit) returns True for
        an exit the VMM has handled (run() again goes on from there).
        echo: the guest is in the foreground (COM1 output to the console,
        console input to COM1). max_exits, time_budget: this run's budgets
        (default vm.vmm.exit_budget, vm.vmm.time_budget). report: print the
        report of a run the VMM ended (None: when echo is on or a handler
        raised). An exception in a handler ends the run as 'HandlerError'
        (an exit the vCPU cannot handle, e.g. an MMIO instruction the
        emulator does not know: 'Unsupported';
        no frame left for guest RAM: 'OutOfFrames');
        reraise=True raises it again once the vCPU is unbound. Ctrl-C
        (KeyboardInterrupt) goes through, the vCPU unbound."""
        budget = self.exit_budget if max_exits is None else max_exits
        seconds = self.time_budget if time_budget is None else time_budget
        vcpu.bind()
        uart, plat, ticks = self.uart, self.platform, self.platform.ticks
        tsc, hz = self._tsc, self._hz
        out0 = len(uart.output)
        watch = Watch(uart.output, self.markers)
        tr = [] if trace else None
        show = _trace.Printer(self.vm, plat) if self.vm.trace else None
        ring = self.recent = vcpu.ring
        ring.clear()
        n, base, start = 0, vcpu.exits, tsc()
        deadline = None if seconds is None else start + int(seconds * hz())
        why = detail = error = None
        inside = False                  # an exception now came from a handler inside vcpu.run()
        try:
            if not self._bios_done:
                self._bios_tables()
            self._attach(vcpu)
            # A trace or a stop() callback sees every exit: none stays inside.
            vcpu.every_exit_out(tr is not None or show is not None or stop is not None)
            uart.write = _console_writer() if echo else None
            if show is not None and echo:
                uart.write = show.lines(uart.write)
            uart.getc = self.vm.io.console_getc if echo else None
            # Control comes back at least every WATCHDOG_S of guest time even if
            # the guest spins with interrupts off: the vCPU's own timer (VMX
            # preemption timer), else, with a time budget, the host's (SVM:
            # physical interrupts exit whatever the guest's IF, APM2 15.21.1).
            vcpu.run_slice = SLICE
            if not vcpu.set_watchdog(int(WATCHDOG_S * hz())) and deadline is not None \
                    and ticks.timer is not None:
                ticks.timer.arm(WATCHDOG_S)
            while True:
                # The vCPU comes back within the exit budget's remainder.
                if budget is not None:
                    vcpu.run_slice = max(1, min(SLICE, budget - (vcpu.exits - base)))
                inside = True
                e = vcpu.run()
                inside = False
                if watch.check() is not None:   # e.g. a kernel panic on the console
                    why, detail = watch.found
                    break
                if e.reason == "Nothing":       # the vCPU's slice or watchdog ran out
                    ticks.poll(vcpu)
                else:
                    n += 1
                    why = _exits.handle(self, vcpu, e, n, tr, show, ring)
                    if why is None and stop is not None and stop(e):
                        why = "Stopped"
                    if why is not None:
                        detail = self.platform.debug_exit.value if why == "DebugExit" else None
                        break
                if budget is not None and vcpu.exits - base >= budget:
                    why, detail = "ExitBudget", vcpu.exits - base
                    break
                if deadline is not None and tsc() >= deadline:
                    why, detail = "TimeBudget", (tsc() - start) / hz()
                    break
        except KeyboardInterrupt:
            raise
        except (UnexpectedExit, NotImplementedError) as exc:
            why, detail = "Unsupported", exc    # the vCPU names what it cannot do: no traceback
        except OutOfFrames as exc:
            why, detail = "OutOfFrames", exc    # no frame to back the guest's RAM: not a bug
        except Exception as exc:            # a handler's bug or the VMM's: this VM ends
            why, error = "HandlerError", exc
        finally:
            vcpu.run_slice = None
            try:
                vcpu.set_watchdog(None)
            finally:
                ticks.stop()
                plat.detach()
                uart.end_line()
                vcpu.unbind()
        e = vcpu.exit
        reason = e.reason if why == "Stopped" else why
        e = e.copy()
        if why == "DebugExit" or why == "Stopped":
            # Its text reads neither the vCPU nor the ring: built on first use.
            text = (why, e, detail, None, None, plat.names, error, None)
        else:
            recent = ring.entries()
            last = recent[-1][1] if inside and recent else None
            text = _report.build(why, e, detail, vcpu, recent, plat.names, error, last,
                                 uart.output)
        res = RunResult(reason, e, bytes(uart.output[out0:]), vcpu.exits - base, tr,
                        detail if why == "DebugExit" else None, text,
                        detail if why == "Unsupported" or why == "OutOfFrames" else error)
        res.stopped = why == "Stopped"
        if show is not None:
            show.end(res)
        if not res.ok and (report or report is None and (echo or error is not None)):
            print(res.report)
        if error is not None and reraise:
            raise error
        return res

    def _bios_tables(self):
        # At the first run: the PC's ACPI tables where the RSDP scan finds
        # them (ACPI 6.3 5.2.5.1; the memory maps leave 0xA0000-0xEFFFF out),
        # unless the caller put something there (a BIOS image, a real-mode
        # guest) or the VM has no RAM at 1 MiB.
        self._bios_done = True
        vm, blob = self.vm, acpi_tables(self.platform.apic is not None)
        if vm.mem_size < ACPI_MIN_RAM:
            return
        if vm.gpa_to_hpa(ACPI_BASE) >= 0 and vm.read(ACPI_BASE, len(blob)) != bytes(len(blob)):
            return
        vm.write(ACPI_BASE, blob)

    def _attach(self, vcpu):
        # Tier one for this run: the platform's devices, then the VMM's own
        # ports and MSRs over them, and the hypercall table itself (shared,
        # so a handler registered during the run counts at once).
        for m in self._msr_keys - set(self.msrs):
            vcpu.register_msr(m, None, None)
        self.platform.attach(vcpu)
        for p in self._port_keys - set(self.ports):
            if p not in self.platform.handlers:
                vcpu.register_io(p, 1, None, None)
        for p in self.ports:
            vcpu.register_io(p, 1, self._port_in, self._port_out)
        for m in self.msrs:
            vcpu.register_msr(m, self._msr_in, self._msr_out)
        self._port_keys, self._msr_keys = set(self.ports), set(self.msrs)
        vcpu.hypercalls = self.hypercalls
        if vcpu.ram_fault is None:
            vcpu.register_ram_fault(_exits.ram_fault(self.vm, vcpu))

    def _port_in(self, port, width):
        return self.ports[port]

    def _port_out(self, port, width, value):
        self.ports[port] = value

    def _msr_in(self, msr):
        return self.msrs[msr]

    def _msr_out(self, msr, value):
        self.msrs[msr] = value
