# The small VMM behind vm.run(): COM1 output forwarded to the real serial
# port, a UART status register guests can poll, ports and MSRs the VMM
# answers, a few hypercalls, fresh zeroed RAM on a NestedPageFault inside
# guest RAM. Arch-neutral; runs on the bare-metal port and on CPython.
import sys
from micropython import const

COM1 = const(0x3F8)
COM1_PORTS = const(8)
_LSR = const(5)
_LSR_IDLE = const(0x60)                 # THR empty, transmitter empty (16550)
HC_ADD = const(1)                       # returns the sum of the six arguments
HC_INJECT = const(2)                    # queue interrupt args[0] for this vCPU
HC_UNKNOWN = const(0xFFFFFFFFFFFFFFFF)  # -1: no such hypercall
_VEC_GP = const(13)


class RunResult:
    """How vm.run() ended: reason ('Halt', 'SystemDown', or the exit it could
    not handle), the last exit record, the guest's COM1 output, the number of
    exits and, with trace=True, every exit as a tuple (COM1 traffic left out)."""

    def __init__(self, exit, output, exits, trace):
        self.reason = exit.reason
        self.exit = exit
        self.output = output
        self.exits = exits
        self.trace = trace

    def __repr__(self):
        return "<RunResult %s after %d exits, %d bytes of output>" % (
            self.reason, self.exits, len(self.output))


def _console_writer():
    out = getattr(sys.stdout, "buffer", None)
    return out.write if out is not None else (lambda b: sys.stdout.write(bytes(b).decode()))


class Vmm:
    def __init__(self, vm):
        self.vm = vm
        self.ports = {}                 # port -> value IN returns (OUT stores)
        self.msrs = {}                  # MSR -> value RDMSR returns (WRMSR stores)
        self.uart = bytearray(COM1_PORTS)
        self.hypercalls = {HC_ADD: self._hc_add, HC_INJECT: self._hc_inject}
        self._byte = bytearray(1)

    def _hc_add(self, vcpu, args):
        return sum(args)

    def _hc_inject(self, vcpu, args):
        vcpu.inject_interrupt(args[0])
        return 0

    def run(self, vcpu, trace=False, echo=True, max_exits=None):
        vcpu.bind()
        for m in self.msrs:
            vcpu.set_msr_intercept(m, True, True)
        out = bytearray()
        tr = [] if trace else None
        write = _console_writer() if echo else None
        n = 0
        try:
            while max_exits is None or n < max_exits:
                e = vcpu.run()
                n += 1
                r = e.reason
                if r == "IoWrite" or r == "IoRead":
                    com1 = COM1 <= e.port < COM1 + COM1_PORTS
                    value = self._io(vcpu, e, com1, out, write)
                    if tr is not None and not com1:
                        tr.append((r, e.port, e.width, e.data if r == "IoWrite" else value))
                    continue
                if tr is not None:
                    tr.append(e.as_tuple())
                if r == "Hypercall":
                    fn = self.hypercalls.get(e.nr)
                    vcpu.set_return_value(HC_UNKNOWN if fn is None else fn(vcpu, e.args))
                elif r == "SysRegRead" or r == "SysRegWrite":
                    self._msr(vcpu, e)
                elif r == "NestedPageFault":
                    if not self._fault_in(e.addr, e.access):
                        break
                elif r != "ExternalInterrupt":
                    break               # Halt, SystemDown, FailEntry, ...
            else:
                raise RuntimeError("guest still running after %d exits" % n)
        finally:
            vcpu.unbind()
        return RunResult(e.copy(), bytes(out), n, tr)

    def _io(self, vcpu, e, com1, out, write):
        # COM1: transmit forwarded and kept, LSR always idle, the other
        # registers remember what the guest wrote. Ports in self.ports answer
        # their value; the rest behave as absent (reads float high).
        port = e.port
        if e.reason == "IoWrite":
            if com1:
                if port == COM1:
                    out.append(e.data & 0xFF)
                    if write is not None:
                        self._byte[0] = e.data & 0xFF
                        write(self._byte)
                else:
                    self.uart[port - COM1] = e.data & 0xFF
            elif port in self.ports:
                self.ports[port] = e.data
            return None
        mask = (1 << (8 * e.width)) - 1
        if com1:
            value = _LSR_IDLE if port == COM1 + _LSR else 0 if port == COM1 else self.uart[port - COM1]
        else:
            value = self.ports.get(port, mask) & mask
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
