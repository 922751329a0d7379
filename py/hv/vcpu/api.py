# The arch-neutral vCPU interface (x86_vcpu's AxArchVCpu; its exit record is
# hv.vcpu.record's); the first tier of exit dispatch (hv.vcpu.dispatch), the
# entry's extra work (hv.vcpu.entry) and MMIO and string I/O emulation
# (hv.vcpu.mmio, strio, emul) are mixed in. Implemented by hv.vcpu.svm.vcpu
# and hv.vcpu.vmx.vcpu; bare metal and CPython (host tests).
from array import array
from hv.x86 import exceptions
from hv.x86.regs import MASK64, RAX, RDX
from hv.vcpu import ring as _ring
from hv.vcpu.emul import Emulation
from hv.vcpu.fastio import FastIo
from hv.vcpu.entry import SLOW_WORK, Entry
from hv.vcpu.mmio import Mmio
from hv.vcpu.strio import StringIo
# GuestFault: raised by a registered MSR or hypercall handler (and the
# instruction emulator), e.g. GuestFault(13, 0) for #GP(0) on an MSR write the
# hardware refuses; the one class is hv.x86.fault's.
from hv.vcpu.dispatch import GuestFault, TierOne  # noqa: F401
# The exit record, here for the names everyone imports from hv.vcpu.api.
from hv.vcpu.record import FIELDS, Exit, UnexpectedExit  # noqa: F401

_WIDTH_MASK = (0, 0xFF, 0xFFFF, 0, 0xFFFFFFFF, 0, 0, 0, MASK64)
NO_SLICE = 1 << 60              # VCpu._left in a run() without a slice: no limit

class VCpu(TierOne, Entry, Mmio, StringIo, Emulation):
    """Arch-neutral API. Back ends provide the register and state accessors
    and run(); what follows is shared by every back end."""

    MODES = ("real", "protected", "long")
    ERROR_CODE_VECTORS = exceptions.INTEL_ERROR_CODE_VECTORS   # the back end's vendor

    def __init__(self, vm, allocator, io=None, native=None):
        # io: the hw natives, native: the back end's (NATIVE); fakes in host tests.
        if io is None:
            import hw as io
        if native is None:
            native = __import__(self.NATIVE)
        self.vm = vm
        self.io, self.native = io, native
        self._fast_served = getattr(native, "fast_served", None)   # exits the natives serve
        self.fast_io = FastIo()         # ports the natives serve while this vCPU is bound
        self._native_fast_io = getattr(native, "fast_io", None)
        self._native_tier = getattr(native, "tier_one", None)   # tier one in the natives
        self._allocator = allocator
        self.exit = Exit()
        self._pending_read = None       # (kind, width) of an IoRead/SysRegRead
        self._irq_queue = []
        self._erip = array("Q", (0, 0))  # exit_rip: the RIP, and 1 once there is one
        self._nmi_pending = False       # an NMI to deliver once the guest's NMI blocking allows
        self.exits = 0                  # every exit this vCPU took, handled inside run() or not
        self.run_slice = None           # run() returns 'Nothing' after about this many exits (None: never)
        # Tier one: what run() answers itself (register_*); the active tables
        # are these same dicts, or empty ones while every exit must go up.
        self.io_in, self.io_out, self.msr_in, self.msr_out = {}, {}, {}, {}
        self.hypercalls = {}
        self._io_in, self._io_out, self._msr_in, self._msr_out = (
            self.io_in, self.io_out, self.msr_in, self.msr_out)
        self._hypercalls = self.hypercalls
        self.ram_fault = self._ram_fault = None   # register_ram_fault()
        self._hc_args = [0] * 6         # reused: a hypercall handler must not keep it
        # Shared with the natives (port/tier.h): what the next entry must do
        # first (hv.vcpu.entry.SLOW_*); exits they may still serve in this
        # run() call; what a handler they called left for Python (tier_end).
        self._slow = array("Q", (1,))
        self._left = array("Q", (0,))
        self._tier_info = array("Q", (0, 0, 0, 0))
        self._tier_box = [None]
        self.ring = _ring.Ring()        # the last exits, for reports
        self.ring_buf = self.ring.buf
        # Guest time's state, which the natives keep at each entry and exit
        # and load the TSC offset from (hv.vmm.ticks.Ticks.state once a VMM follows this vCPU).
        self.clock = array("Q", (0, 0, 0, 0, 0, 0))
        self.tpr_hook = None            # fn() after the guest's MOV CR8 or TPR-window exit (a LAPIC)
        self._init_emulation()
        self._init_mmio()
        self._init_strio()
        # The back end's two calls on every handled exit, as plain functions
        # in the instance dict, called c._skip(c) and c._put_rax(c, value):
        # a method load misses the full instance dict and walks the MRO
        # (docs/performance.md), a dict hit does not.
        cls = type(self)
        self._skip = cls.skip_instruction
        self._put_rax = cls.put_rax

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

    def cr8_access(self):
        """(get, set) of the guest's CR8 (TPR[7:4], SDM 3A 11.8.6) where the
        back end keeps it while the guest runs."""
        raise NotImplementedError

    def tpr_window(self, priority):
        """Exit (calling tpr_hook) once the guest lowers CR8 below
        `priority` (4 bits) with interrupts on, where MOV CR8 does not exit
        by itself; nothing where it does."""

    def set_watchdog(self, cycles):
        """Make run() return 'Nothing' after about `cycles` TSC cycles in the
        guest without an exit, whatever the guest's RFLAGS.IF (None: off).
        False where the back end has no such timer (the caller arms its own)."""
        return False

    # -- shared -----------------------------------------------------------
    def _bind_natives(self, bound):
        # While this vCPU is bound and exits may stay inside (every_exit_out),
        # the natives serve its fast ports (hv.vcpu.fastio; what they
        # collected goes on first) and its tier one (port/tier.h: the active
        # tables, so every_exit_out binds again after it swapped them).
        inside = bound and self._mmio_active
        f = self._native_fast_io
        if f is not None:
            fio = self.fast_io
            fio.drain()
            if inside:
                f(fio.table, fio.ring, fio.count)
            else:
                f(None)
        t = self._native_tier
        if t is not None:
            t((self, self._io_in, self._io_out, self._msr_in, self._msr_out, self._hypercalls,
               self._internal_msrs, self.ring_buf, self._erip, self._hc_args, self._slow,
               self._left, self._tier_info, self._tier_box, GuestFault, self.vm.cpuid.by_leaf,
               self.gprs, None if self._ram_fault is None else self._ram_inside)
              if inside else None)

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
        self._slow[0] |= SLOW_WORK

    def inject_nmi(self):
        """Queue an NMI (vector 2). It is delivered when the guest does not
        block NMIs: not inside the handler of the last one, before its IRET
        (SDM 3A 6.7.1); two requests meanwhile make one NMI, as on the pin."""
        self._nmi_pending = True
        self._slow[0] |= SLOW_WORK

    def pending_interrupts(self):
        """How many queued interrupts the guest has not been given yet."""
        return len(self._irq_queue)

    def _count(self, k, s0):
        # This run() call's exits: k through Python, the rest served by the
        # natives (fast ports, the benchmarks' CPUID) since fast_served() was s0.
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

    @property
    def exit_rip(self):
        """RIP of the instruction behind the last I/O, MSR, hypercall or
        MMIO exit (None before the first): fault() and retry() go back there."""
        b = self._erip
        return b[0] if b[1] else None

    @exit_rip.setter
    def exit_rip(self, rip):
        b = self._erip
        if rip is None:
            b[1] = 0
        else:
            b[0], b[1] = rip, 1

    def complete(self, value):
        """Complete the IoRead, MmioRead or SysRegRead the last run()
        returned. I/O writes only the access width of RAX (a 32-bit IN
        zero-extends in 64-bit mode, as the instruction does); RDMSR sets
        EDX:EAX; an emulated instruction (MMIO, INS) gets the value and
        completes at the next run()."""
        pending = self._pending_read
        if pending is None:
            raise ValueError("no IoRead, MmioRead or SysRegRead to complete")
        self._pending_read = None
        kind, width = pending
        if kind != "io" and kind != "msr":      # hv.vcpu.emul.MMIO or STRIO
            self._supplied(kind, width, value & _WIDTH_MASK[width])
            return
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
        """Instead of completing the last I/O, MSR, hypercall or MMIO exit,
        make its instruction raise exception `vector` (e.g. #GP for an MSR
        the VMM does not emulate): RIP goes back to it, the read is dropped
        (an emulated instruction's paused element is never done)."""
        if self.exit_rip is None:
            raise ValueError("the last exit was not an instruction the VMM completes")
        self._pending_read = None
        self._drop_paused()
        self.rip = self.exit_rip
        self.inject_exception(vector, error_code)

    def retry(self):
        """Undo the last I/O, MSR, hypercall or MMIO exit: RIP back at its
        instruction, the read dropped (an emulated instruction's paused
        element not done), so the next run() executes it again."""
        if self.exit_rip is None:
            raise ValueError("the last exit was not an instruction the VMM completes")
        self._pending_read = None
        self._drop_paused()
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
