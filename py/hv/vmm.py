# The small VMM behind vm.run(): the guest's ports go to the PC it sees
# (hv.platform: PIC, PIT, COM1 forwarded to the real console, isa-debug-exit,
# POST), ports and MSRs the VMM answers, a few hypercalls, fresh zeroed RAM
# on a NestedPageFault inside guest RAM. Arch-neutral; bare metal and CPython.
import sys
from micropython import const
from hv import trace as _trace
from hv.hosttimer import HostTimer
from hv.platform import DEBUG_EXIT, Platform

COM1 = const(0x3F8)
COM1_PORTS = const(8)
HC_ADD = const(1)                       # returns the sum of the six arguments
HC_INJECT = const(2)                    # queue interrupt args[0] for this vCPU
HC_UNKNOWN = const(0xFFFFFFFFFFFFFFFF)  # -1: no such hypercall
_VEC_GP = const(13)


class RunResult:
    """How vm.run() ended: reason ('DebugExit' when the guest wrote port
    0xF4, then `result` is the value; 'Halt', 'SystemDown', or the exit it
    could not handle), the last exit record, the guest's COM1 output, the
    number of exits and, with trace=True, every exit as a tuple (COM1
    traffic left out)."""

    def __init__(self, exit, output, exits, trace, result=None):
        self.reason = exit.reason if result is None else "DebugExit"
        self.result = result
        self.exit = exit
        self.output = output
        self.exits = exits
        self.trace = trace

    def __repr__(self):
        what = self.reason if self.result is None else "DebugExit(%d)" % self.result
        return "<RunResult %s after %d exits, %d bytes of output>" % (
            what, self.exits, len(self.output))


def _console_writer():
    out = getattr(sys.stdout, "buffer", None)
    return out.write if out is not None else (lambda b: sys.stdout.write(bytes(b).decode()))


class Vmm:
    """vm.vmm: `ports` (port -> value IN returns, OUT stores; before the
    platform's devices), `msrs` (likewise for RDMSR/WRMSR), `hypercalls`
    (nr -> fn(vcpu, args)), `platform` and its `uart` (prefix, colour)."""

    def __init__(self, vm, tsc=None, hz=None, timer=None):
        self.vm = vm
        self.ports = {}
        self.msrs = {}
        self.hypercalls = {HC_ADD: self._hc_add, HC_INJECT: self._hc_inject}
        io = vm.io
        self.platform = Platform(tsc or (lambda: io.rdtsc()), hz or (lambda: io.tsc_hz()),
                                 timer or HostTimer(io))
        self.uart = self.platform.uart

    def _hc_add(self, vcpu, args):
        return sum(args)

    def _hc_inject(self, vcpu, args):
        vcpu.inject_interrupt(args[0])
        return 0

    def run(self, vcpu, trace=False, echo=True, max_exits=None, stop=None):
        """Run until the guest writes port 0xF4, halts for good, shuts down
        or exits in a way the VMM cannot handle, or stop(exit) returns True
        for an exit the VMM has handled (run() again goes on from there).
        echo: the guest is in the foreground (COM1 output to the console,
        console input to COM1)."""
        vcpu.bind()
        for m in self.msrs:
            vcpu.set_msr_intercept(m, True, True)
        uart, plat, ticks = self.uart, self.platform, self.platform.ticks
        uart.write = _console_writer() if echo else None
        uart.getc = self.vm.io.console_getc if echo else None
        out0 = len(uart.output)
        tr = [] if trace else None
        show = _trace.Printer(self.vm, plat) if self.vm.trace else None
        n = 0
        result = None
        try:
            while max_exits is None or n < max_exits:
                ticks.entering()
                e = vcpu.run()
                ticks.exited()
                n += 1
                r = e.reason
                if r == "IoWrite" or r == "IoRead":
                    com1 = COM1 <= e.port < COM1 + COM1_PORTS
                    value = self._io(vcpu, e)
                    if not com1:
                        t = (r, e.port, e.width, e.data if r == "IoWrite" else value)
                        if tr is not None:
                            tr.append(t)
                        if show is not None:
                            show.exit(n, t, vcpu)
                    if e.port == DEBUG_EXIT and r == "IoWrite" and e.port not in self.ports:
                        result = e.data
                        break
                    if stop is not None and stop(e):
                        break
                    continue
                if tr is not None:
                    tr.append(e.as_tuple())
                if show is not None:
                    show.exit(n, e.as_tuple(), vcpu)
                if r == "Hypercall":
                    fn = self.hypercalls.get(e.nr)
                    vcpu.set_return_value(HC_UNKNOWN if fn is None else fn(vcpu, e.args))
                elif r == "SysRegRead" or r == "SysRegWrite":
                    self._msr(vcpu, e)
                elif r == "NestedPageFault":
                    if not self._fault_in(e.addr, e.access):
                        break
                elif r == "ExternalInterrupt":
                    ticks.poll(vcpu)
                elif r != "Halt" or not ticks.halted(vcpu):
                    break               # Halt for good, SystemDown, FailEntry, ...
                if stop is not None and stop(e):
                    break
            else:
                raise RuntimeError("guest still running after %d exits" % n)
        finally:
            ticks.stop()
            uart.end_line()
            vcpu.unbind()
        res = RunResult(e.copy(), bytes(uart.output[out0:]), n, tr, result)
        if show is not None:
            show.end(res)
        return res

    def _io(self, vcpu, e):
        # VMM ports first, then the platform's devices; the rest behave as
        # absent (writes dropped, reads float high).
        port = e.port
        if e.reason == "IoWrite":
            if port in self.ports:
                self.ports[port] = e.data
            elif port in self.platform.devices:
                self.platform.io(vcpu, port, e.width, e.data)
            return None
        mask = (1 << (8 * e.width)) - 1
        if port in self.ports:
            value = self.ports[port] & mask
        elif port in self.platform.devices:
            value = self.platform.io(vcpu, port, e.width, None) & mask
        else:
            value = mask
        vcpu.complete(value)
        return value

    def _msr(self, vcpu, e):
        # Emulated MSRs in self.msrs; any other intercepted MSR faults as on
        # hardware without it: #GP(0) at the instruction (SDM 2B RDMSR).
        if e.msr not in self.msrs:
            vcpu.fault(_VEC_GP, 0)
        elif e.reason == "SysRegRead":
            vcpu.complete(self.msrs[e.msr])
        else:
            self.msrs[e.msr] = e.value

    def _fault_in(self, addr, access):
        # A fault on an absent page inside guest RAM: back it and re-run.
        if addr >= self.vm.mem_size or "p" in access or self.vm.gpa_to_hpa(addr) >= 0:
            return False
        self.vm.map_ram(addr & ~0xFFF, 0x1000)
        return True
