# The first tier of exit dispatch: ports, MSRs and hypercalls registered
# with the vCPU (TierOne, mixed into hv.vcpu.api.VCpu) are answered inside
# vcpu.run() without an Exit going up (KVM's in-kernel I/O bus, x86_vcpu's
# builtin handlers), by the functions below that both back ends' exit
# handlers call; the rest become the exit records. Bare metal and CPython.
from micropython import const
from hv.vcpu import ring as _ring
from hv.x86 import fault as _fault
from hv.x86.regs import MASK64, RCX, RDX, RSI, RDI, R8, R9

GuestFault = _fault.GuestFault
_IN_PENDING = const(0x11)       # ring.IN | ring.PENDING
_OUT = const(2)                 # ring.OUT
TIER_END = const(0xFFFF)        # port/tier.h: the natives' exit codes for tier_end()
TIER_DONE = const(0xFFFE)       # and tier_done()
_RFLAGS_IF = const(1 << 9)
_WIDTH_MASK = (0, 0xFF, 0xFFFF, 0, 0xFFFFFFFF, 0, 0, 0, MASK64)


class TierOne:
    """The vCPU's registration tables and the handlers' calls; VCpu.__init__
    makes the tables (io_in, io_out, msr_in, msr_out, hypercalls)."""

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

    def register_ram_fault(self, fn):
        """fn(gpa) -> True once it backed guest RAM at gpa: a nested page
        fault on a not-present page no MMIO device claims (mmio_claims(),
        checked before fn is called) is answered inside run() (the VMM's
        fresh zeroed RAM) and the guest goes on; False or no fn: the fault
        leaves run() as NestedPageFault."""
        self.ram_fault = fn
        if self._mmio_active:
            self._ram_fault = fn
            if self._bound:
                self._bind_natives(True)        # the natives' tier one calls it too

    def _ram_inside(self, gpa):
        # Tier one's fresh-RAM fault (port/tier.h), for a not-present page
        # outside event delivery: the same test as the exit handlers' npf /
        # ept_violation (no device claims the page), then the VMM's fn.
        return not self.mmio_claims(gpa) and self._ram_fault(gpa)

    def every_exit_out(self, on):
        """on: every I/O, MSR and hypercall exit leaves run() as an Exit,
        registered or not (a trace shows them all; the caller then calls the
        registered handlers itself), the natives' fast ports too; off:
        registered ones stay inside."""
        self._mmio_active = not on
        if on:
            self._io_in, self._io_out, self._msr_in, self._msr_out = {}, {}, {}, {}
            self._hypercalls = {}
            self._ram_fault = None
        else:
            self._io_in, self._io_out = self.io_in, self.io_out
            self._msr_in, self._msr_out = self.msr_in, self.msr_out
            self._hypercalls = self.hypercalls
            self._ram_fault = self.ram_fault
        if self._bound:
            self._bind_natives(True)


# -- the hot paths, as module functions of the vCPU (exits.py calls them) --
# A method call on a vCPU looks the name up in its instance dict (full, so a
# miss probes every slot) and then class by class, and a store to one of its
# attributes walks every class (the vCPU has properties, so MicroPython must
# look for one): both cost more than the minimal world switch under QEMU TCG.
# So these are plain functions, and the RIP behind the exit goes into a
# preallocated array (VCpu._erip; VCpu.exit_rip reads it).

def port_in(c, port, width, rip):
    """A registered IN (both back ends): the value, masked to the width, or
    -1 when no handler has the port."""
    fn = c._io_in.get(port)
    if fn is None:
        return -1
    buf = c.ring_buf
    _ring.put(buf, _IN_PENDING | width << 5 | port << 9, 0, rip)
    erip = c._erip
    erip[0], erip[1] = rip, 1           # retry() and fault() after a handler raised
    value = fn(port, width) & _WIDTH_MASK[width]
    _ring.settle(buf, value)
    return value


def port_out(c, port, width, data, rip):
    """An OUT (both back ends), RIP already past it: None when a handler
    took it, else the IoWrite record (with .stop when the handler ends the
    run, tier two when none has the port)."""
    fn = c._io_out.get(port)
    why = None
    if fn is not None:
        _ring.put(c.ring_buf, _OUT | width << 5 | port << 9, data, rip)
        erip = c._erip
        erip[0], erip[1] = rip, 1
        why = fn(port, width, data)
        if why is None:
            return None
    e = io_exit(c, "IoWrite", port, width, rip)
    e.data, e.stop = data, why
    return e


def io_exit(c, reason, port, width, rip):
    """Tier two: the IoRead/IoWrite record for the caller."""
    e = c.exit
    e.reason, e.port, e.width = reason, port, width
    c.exit_rip = rip
    if reason == "IoRead":
        c._pending_read = ("io", width)     # complete() writes only AL/AX/EAX
    return e


def msr_exit(c, number, write, value, rip):
    """An intercepted RDMSR/WRMSR (both back ends): None when a registered
    handler took it, else the SysRegRead/SysRegWrite record, RIP past it."""
    if msr_inside(c, number, write, value, rip):
        return None
    c.exit_rip = rip
    c._skip(c)                # SVM: nRIP or decoded; VMX: the exit's length
    e = c.exit
    e.msr = number
    if write:
        e.reason, e.value = "SysRegWrite", value
    else:
        e.reason = "SysRegRead"
        c._pending_read = ("msr", 8)
    return e


def msr_inside(c, number, write, value, rip):
    """A registered MSR (shared by the back ends): True when handled here,
    RIP stepped or the guest given the handler's GuestFault."""
    fn = (c._msr_out if write else c._msr_in).get(number)
    if fn is None:
        return False
    buf = c.ring_buf
    _ring.put(buf, (_ring.WRMSR if write else _ring.RDMSR | _ring.PENDING) | 8 << 5 | number << 9,
              value, rip)
    erip = c._erip
    erip[0], erip[1] = rip, 1           # retry() and fault() after a handler raised
    try:
        if write:
            fn(number, value)
        else:
            value = fn(number)
            if value < 0 or value >> 64:
                value &= MASK64
            _ring.settle(buf, value)
            c._put_rax(c, value & 0xFFFFFFFF)   # EDX:EAX, upper halves cleared
            c.gprs[RDX] = value >> 32 & 0xFFFFFFFF
    except GuestFault as f:
        c.inject_exception(f.vector, f.error_code)
        return True
    c._skip(c)
    return True


def hypercall_exit(c, nr, rip):
    """A hypercall, RIP already past it (both back ends): None when a
    registered handler answered it, else the Hypercall record."""
    g = c.gprs
    if _hypercall_inside(c, nr, g, rip):
        return None
    c.exit_rip = rip
    e = c.exit
    e.reason, e.nr = "Hypercall", nr
    e.args = (g[RDI], g[RSI], g[RDX], g[RCX], g[R8], g[R9])
    return e


def tier_end(c):
    """The exit the natives' tier one began and left to Python
    (port/tier.h, TIER_END): a GuestFault an MSR or hypercall handler
    raised goes to the guest (a hypercall's RIP back on its instruction,
    as _hypercall_inside does), an OUT handler's reason to stop ends the
    run as the IoWrite record."""
    info, box = c._tier_info, c._tier_box
    why, box[0] = box[0], None
    if info[0] != _OUT:
        if info[0] == _ring.HYPERCALL:
            c.rip = c._erip[0]
        c.inject_exception(why.vector, why.error_code)
        return None
    e = io_exit(c, "IoWrite", info[1], info[2], c._erip[0])
    e.data, e.stop = info[3], why
    return e


def tier_done(c):
    """An exit the natives' tier one served whose handler left work for
    the next entry (an interrupt to deliver): run() enters by the slow path."""
    return None


def halt_exit(c):
    """HLT, RIP past it (both back ends): a queued NMI, or interrupt for a
    guest that takes interrupts, wakes it (deliver that), else the Halt record."""
    if c._nmi_pending or c._irq_queue and c.rflags & _RFLAGS_IF:
        return None
    e = c.exit
    e.reason = "Halt"
    return e


def _hypercall_inside(c, nr, g, rip):
    # A registered hypercall, RIP already past it: True when handled.
    fn = c._hypercalls.get(nr)
    if fn is None:
        return False
    args = c._hc_args
    args[0], args[1], args[2] = g[RDI], g[RSI], g[RDX]
    args[3], args[4], args[5] = g[RCX], g[R8], g[R9]
    buf = c.ring_buf
    _ring.put(buf, _ring.HYPERCALL | _ring.PENDING | 8 << 5 | (nr & 0xFFFFFFFFFFFF) << 9, 0, rip)
    erip = c._erip
    erip[0], erip[1] = rip, 1           # retry() and fault() after a handler raised
    try:
        rax = fn(c, args)
    except GuestFault as f:
        c.rip = rip
        c.inject_exception(f.vector, f.error_code)
        return True
    if rax < 0 or rax >> 64:            # no big-int mask on the common path
        rax &= MASK64
    _ring.settle(buf, rax)
    c._put_rax(c, rax)
    return True
