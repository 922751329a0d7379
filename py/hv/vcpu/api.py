# The arch-neutral vCPU interface (x86_vcpu's AxArchVCpu), its exit record
# (AxVCpuExitReason) and the first tier of exit dispatch: ports, MSRs and
# hypercalls registered here are handled inside run() (as KVM's in-kernel
# I/O bus), only the rest leave it as an Exit. Implemented by
# hv.vcpu.svm.vcpu and hv.vcpu.vmx.vcpu; bare metal and CPython (host tests).
from hv.x86 import exceptions
from hv.x86.regs import MASK64, RAX, RCX, RDX, RSI, RDI, R8, R9
from hv.vcpu import ring as _ring
from hv.x86 import fault as _fault
from micropython import const

_IN_PENDING = const(0x11)       # ring.IN | ring.PENDING
_OUT = const(2)                 # ring.OUT
_RFLAGS_IF = const(1 << 9)

# Exit reasons, and the fields each one sets (AxVCpuExitReason).
FIELDS = {
    "Hypercall": ("nr", "args"),
    "IoRead": ("port", "width"),
    "IoWrite": ("port", "width", "data"),
    "MmioRead": ("addr", "width"),
    "MmioWrite": ("addr", "width", "data"),
    "SysRegRead": ("msr",),
    "SysRegWrite": ("msr", "value"),
    "NestedPageFault": ("addr", "access"),
    "ExternalInterrupt": ("vector",),
    "Halt": (),
    "SystemDown": (),
    "FailEntry": ("code", "message"),
    "Nothing": (),
}
_WIDTH_MASK = (0, 0xFF, 0xFFFF, 0, 0xFFFFFFFF, 0, 0, 0, MASK64)
_ATTRS = ("reason", "nr", "args", "port", "width", "data", "addr", "access", "msr",
          "value", "vector", "code", "message", "stop")


class Exit:
    """One exit record. A vCPU reuses its record (no allocation per exit):
    it is valid until the next run(); keep copy() or as_tuple()."""

    def __init__(self):
        self.reason = "Nothing"
        self.nr = self.args = self.port = self.width = self.data = None
        self.addr = self.access = self.msr = self.value = self.vector = None
        self.code = self.message = None
        self.stop = None            # a registered handler's reason to end the run

    def as_tuple(self):
        return (self.reason,) + tuple(getattr(self, f) for f in FIELDS[self.reason])

    def copy(self):
        e = Exit()
        for a in _ATTRS:
            setattr(e, a, getattr(self, a))
        return e

    def __repr__(self):
        parts = []
        for f in FIELDS[self.reason]:
            v = getattr(self, f)
            parts.append("%s=%s" % (f, hex(v) if isinstance(v, int) and f != "width" else repr(v)))
        return "<Exit %s%s>" % (self.reason, " " + " ".join(parts) if parts else "")


class UnexpectedExit(Exception):
    """An exit the back end has no handler for: the code and a state dump."""


# Raised by a registered MSR or hypercall handler (and the instruction
# emulator): e.g. GuestFault(13, 0) for #GP(0) on an MSR write the hardware
# refuses. The one class lives with the architecture's exceptions.
GuestFault = _fault.GuestFault


class VCpu:
    """Arch-neutral API. Back ends provide the register and state accessors
    and run(); what follows is shared by every back end."""

    MODES = ("real", "protected", "long")
    ERROR_CODE_VECTORS = exceptions.INTEL_ERROR_CODE_VECTORS   # the back end's vendor

    def __init__(self, vm):
        self.vm = vm
        self.exit = Exit()
        self._pending_read = None       # (kind, width) of an IoRead/SysRegRead
        self._irq_queue = []
        self.exit_rip = None            # RIP of the instruction behind the last I/O, MSR or hypercall exit
        self.exits = 0                  # every exit this vCPU took, handled inside run() or not
        self.run_slice = None           # run() returns 'Nothing' after about this many exits (None: never)
        # Tier one: what run() answers itself (register_*); the active tables
        # are these same dicts, or empty ones while every exit must go up.
        self.io_in, self.io_out, self.msr_in, self.msr_out = {}, {}, {}, {}
        self.hypercalls = {}
        self._io_in, self._io_out, self._msr_in, self._msr_out = (
            self.io_in, self.io_out, self.msr_in, self.msr_out)
        self._hypercalls = self.hypercalls
        self._hc_args = [0] * 6         # reused: a hypercall handler must not keep it
        self.ring = _ring.Ring()        # the last exits, for reports
        self.ring_buf = self.ring.buf
        self.clock = None               # while a guest timer runs: exited()/entering() around exits

    # -- to be implemented by the back end --------------------------------
    def setup(self, mode):
        raise NotImplementedError

    def set_entry(self, gpa):
        raise NotImplementedError

    def set_ept_root(self, paddr):
        raise NotImplementedError

    def bind(self):
        raise NotImplementedError

    def unbind(self):
        raise NotImplementedError

    def run(self):
        raise NotImplementedError

    def get_gpr(self, n):
        raise NotImplementedError

    def set_gpr(self, n, value):
        raise NotImplementedError

    def set_io_intercept(self, port, count, on):
        raise NotImplementedError

    def set_msr_intercept(self, msr, read, write):
        raise NotImplementedError

    def _inject_exception(self, vector, error_code):
        # Put exception `vector` in the next entry's event injection, with
        # error_code (a u32) or, if None, without one.
        raise NotImplementedError

    def _protected_mode(self):
        # CR0.PE as the next entry loads it (not a read shadow).
        raise NotImplementedError

    def close(self):
        raise NotImplementedError

    def control_regs(self):
        """(cr0, cr3, cr4, efer, code size in bits) as the guest sees them."""
        raise NotImplementedError

    def set_watchdog(self, cycles):
        """Make run() return 'Nothing' after about `cycles` TSC cycles in the
        guest without an exit, whatever the guest's RFLAGS.IF (None: off).
        False where the back end has no such timer (the caller arms its own)."""
        return False

    # -- tier one: handlers inside run() ------------------------------------
    def register_io(self, port, count, read, write):
        """Ports [port, port+count) answered inside run(): read(port, width)
        -> value, write(port, width, value) -> None, or a reason (str) to
        end the run with (run() returns the IoWrite with .stop set). None
        for either side: that direction leaves run() as an Exit. Every port
        exits by default; one given to the hardware (set_io_intercept off)
        stays so, and its handlers are not called."""
        for p in range(port, port + count):
            for table, fn in ((self.io_in, read), (self.io_out, write)):
                if fn is None:
                    table.pop(p, None)
                else:
                    table[p] = fn

    def register_msr(self, msr, read, write):
        """RDMSR/WRMSR of msr answered inside run(): read(msr) -> value,
        write(msr, value); either may raise GuestFault. None: that
        direction leaves run() as SysRegRead/SysRegWrite."""
        for table, fn in ((self.msr_in, read), (self.msr_out, write)):
            if fn is None:
                table.pop(msr, None)
            else:
                table[msr] = fn
        self.set_msr_intercept(msr, True, True)

    def register_hypercall(self, nr, fn):
        """Hypercall nr answered inside run(): fn(vcpu, args) -> RAX (args: a
        reused list of the six argument registers); None unregisters it."""
        if fn is None:
            self.hypercalls.pop(nr, None)
        else:
            self.hypercalls[nr] = fn

    def every_exit_out(self, on):
        """on: every I/O, MSR and hypercall exit leaves run() as an Exit,
        registered or not (a trace shows them all; the caller then calls the
        registered handlers itself); off: registered ones stay inside."""
        if on:
            self._io_in, self._io_out, self._msr_in, self._msr_out = {}, {}, {}, {}
            self._hypercalls = {}
        else:
            self._io_in, self._io_out = self.io_in, self.io_out
            self._msr_in, self._msr_out = self.msr_in, self.msr_out
            self._hypercalls = self.hypercalls

    def _port_in(self, port, width, rip):
        # A registered IN (both back ends): the value, masked to the width,
        # or -1 when no handler has the port.
        fn = self._io_in.get(port)
        if fn is None:
            return -1
        buf = self.ring_buf
        _ring.put(buf, _IN_PENDING | width << 5 | port << 9, 0, rip)
        self.exit_rip = rip             # retry() and fault() after a handler raised
        value = fn(port, width) & _WIDTH_MASK[width]
        _ring.settle(buf, value)
        return value

    def _port_out(self, port, width, data, rip):
        # An OUT (both back ends), RIP already past it: None when a handler
        # took it, else the IoWrite record (with .stop when the handler
        # ends the run, tier two when none has the port).
        fn = self._io_out.get(port)
        why = None
        if fn is not None:
            _ring.put(self.ring_buf, _OUT | width << 5 | port << 9, data, rip)
            self.exit_rip = rip
            why = fn(port, width, data)
            if why is None:
                return None
        e = self._io_exit("IoWrite", port, width, rip)
        e.data, e.stop = data, why
        return e

    def _io_exit(self, reason, port, width, rip):
        # Tier two: the IoRead/IoWrite record for the caller.
        e = self.exit
        e.reason, e.port, e.width = reason, port, width
        self.exit_rip = rip
        if reason == "IoRead":
            self._pending_read = ("io", width)  # complete() writes only AL/AX/EAX
        return e

    def _msr_inside(self, number, write, value, rip):
        # A registered MSR (shared by the back ends): True when handled here,
        # RIP stepped or the guest given the handler's GuestFault.
        fn = (self._msr_out if write else self._msr_in).get(number)
        if fn is None:
            return False
        buf = self.ring_buf
        _ring.put(buf, (_ring.WRMSR if write else _ring.RDMSR | _ring.PENDING) | 8 << 5 | number << 9,
                  value, rip)
        self.exit_rip = rip             # retry() and fault() after a handler raised
        try:
            if write:
                fn(number, value)
            else:
                value = fn(number)
                if value < 0 or value >> 64:
                    value &= MASK64
                _ring.settle(buf, value)
                self.put_rax(value & 0xFFFFFFFF)    # EDX:EAX, upper halves cleared
                self.gprs[RDX] = value >> 32 & 0xFFFFFFFF
        except GuestFault as f:
            self.inject_exception(f.vector, f.error_code)
            return True
        self.skip_instruction()
        return True

    def _hypercall_exit(self, nr, rip):
        # A hypercall, RIP already past it (both back ends): None when a
        # registered handler answered it, else the Hypercall record.
        g = self.gprs
        if self._hypercall_inside(nr, g, rip):
            return None
        self.exit_rip = rip
        e = self.exit
        e.reason, e.nr = "Hypercall", nr
        e.args = (g[RDI], g[RSI], g[RDX], g[RCX], g[R8], g[R9])
        return e

    def _halt_exit(self):
        # HLT, RIP past it (both back ends): a queued interrupt wakes a guest
        # that takes interrupts (deliver that), else the Halt record.
        if self._irq_queue and self.rflags & _RFLAGS_IF:
            return None
        e = self.exit
        e.reason = "Halt"
        return e

    def _hypercall_inside(self, nr, g, rip):
        # A registered hypercall, RIP already past it: True when handled.
        fn = self._hypercalls.get(nr)
        if fn is None:
            return False
        args = self._hc_args
        args[0], args[1], args[2] = g[RDI], g[RSI], g[RDX]
        args[3], args[4], args[5] = g[RCX], g[R8], g[R9]
        buf = self.ring_buf
        _ring.put(buf, _ring.HYPERCALL | _ring.PENDING | 8 << 5 | (nr & 0xFFFFFFFFFFFF) << 9, 0, rip)
        self.exit_rip = rip             # retry() and fault() after a handler raised
        try:
            rax = fn(self, args)
        except GuestFault as f:
            self.rip = rip
            self.inject_exception(f.vector, f.error_code)
            return True
        if rax < 0 or rax >> 64:           # no big-int mask on the common path
            rax &= MASK64
        _ring.settle(buf, rax)
        self.put_rax(rax)
        return True

    # -- shared -----------------------------------------------------------
    def inject_exception(self, vector, error_code=None):
        """Deliver exception `vector` (0-31) at the next entry. Whether it
        pushes an error code is the architecture's call, not the caller's
        (hv.x86.exceptions): error_code (0 if None) goes with the vectors
        that have one, in protected mode, and is dropped otherwise."""
        if exceptions.pushes_error_code(vector, self._protected_mode(), self.ERROR_CODE_VECTORS):
            self._inject_exception(vector, (error_code or 0) & 0xFFFFFFFF)
        else:
            self._inject_exception(vector, None)

    def inject_interrupt(self, vector):
        """Queue an external interrupt; delivered once the guest can take it
        (RFLAGS.IF = 1, no interrupt shadow), through the interrupt window."""
        if not 32 <= vector <= 255:
            raise ValueError("external interrupt vector %d outside 32-255" % vector)
        self._irq_queue.append(vector)

    def pending_interrupts(self):
        """How many queued interrupts the guest has not been given yet."""
        return len(self._irq_queue)

    def _count(self, k, s0):
        # This run() call's exits: k through Python, the rest served by the
        # natives' CPUID fast path (benchmarks) since fast_served() was s0.
        f = self._fast_served
        self.exits += k + (f() - s0 if f is not None else 0)

    def _nothing(self, k, s0):
        # run() returns without an exit to handle: the slice or watchdog ran out.
        self._count(k, s0)
        e = self.exit
        e.reason = "Nothing"
        return e

    def _check_runnable(self):
        if not self._bound:
            raise ValueError("bind() the vCPU before run()")
        if self._pending_read is not None:
            raise ValueError("complete() the %s before run()" % self.exit.reason)

    def complete(self, value):
        """Complete the IoRead or SysRegRead the last run() returned. I/O
        writes only the access width of RAX (a 32-bit IN zero-extends in
        64-bit mode, as the instruction does); RDMSR sets EDX:EAX."""
        pending = self._pending_read
        if pending is None:
            raise ValueError("no IoRead or SysRegRead to complete")
        self._pending_read = None
        kind, width = pending
        if kind == "msr":
            self.set_gpr(RAX, value & 0xFFFFFFFF)
            self.set_gpr(RDX, (value >> 32) & 0xFFFFFFFF)
            return
        mask = _WIDTH_MASK[width]
        if width == 4 and self.long_mode():
            self.set_gpr(RAX, value & mask)
        else:
            self.set_gpr(RAX, self.get_gpr(RAX) & ~mask & MASK64 | value & mask)

    def fault(self, vector, error_code=None):
        """Instead of completing the last I/O, MSR or hypercall exit, make
        its instruction raise exception `vector` (e.g. #GP for an MSR the
        VMM does not emulate): RIP goes back to it, the read is dropped."""
        if self.exit_rip is None:
            raise ValueError("the last exit was not an instruction the VMM completes")
        self._pending_read = None
        self.rip = self.exit_rip
        self.inject_exception(vector, error_code)

    def retry(self):
        """Undo the last I/O, MSR or hypercall exit: RIP back at its
        instruction, the read dropped, so the next run() executes it again."""
        if self.exit_rip is None:
            raise ValueError("the last exit was not an instruction the VMM completes")
        self._pending_read = None
        self.rip = self.exit_rip

    def set_return_value(self, value):
        """Hypercall result, in RAX (x86_vcpu's set_return_value)."""
        self.set_gpr(RAX, value & MASK64)

    def long_mode(self):
        raise NotImplementedError

    def regs(self):
        """All 16 GPRs, RIP and RFLAGS as a dict (for printing, not hot paths)."""
        from hv.x86.regs import NAMES
        d = {name: self.get_gpr(i) for i, name in enumerate(NAMES)}
        d["rip"], d["rflags"] = self.rip, self.rflags
        return d

    def print_regs(self):
        """The registers in hex, three to a line, for a person at the REPL."""
        from hv.x86.regs import NAMES
        names = NAMES + ("rip", "rflags")
        values = [self.get_gpr(i) for i in range(16)] + [self.rip, self.rflags]
        for i in range(0, len(names), 3):
            print("  ".join("%-6s %016x" % nv for nv in zip(names[i:i + 3], values[i:i + 3])))
