# What an entry must do besides entering, decided once for both back ends
# and mixed into hv.vcpu.api.VCpu: a pending NMI, queued interrupts, a TLB
# flush, the guest's XCR0 (neither VMRUN nor VM entry switches it), the
# slow-entry flag that keeps all of it off the common path, XSETBV, and
# requeueing an event an exit cut short. Bare metal and CPython (host tests).
from hv.x86.bits import CR4_OSXSAVE, xsetbv_faults
from micropython import const
from hv.x86.regs import RAX, RCX, RDX

_VEC_GP = 13
# VCpu._slow[0], shared with the natives (port/tier.h): nonzero takes the
# slow entry. WORK: new events to deliver or a TLB flush, which the natives'
# tier one leaves to Python; XCR0: the guest's differs from the host's,
# which the slow entry swaps around the natives' whole run() call; WAIT:
# events the slow entry could not deliver yet, for which it armed a window
# (or the NMI's IRET intercept) that exits when they can go in, so the
# natives may go on meanwhile.
SLOW_WORK = const(1)
SLOW_XCR0 = const(2)
SLOW_WAIT = const(4)


class Entry:
    """Back ends provide _enter() (one native entry, its exit code),
    _deliver_nmi(), _deliver_interrupts(), _flush_begin()/_flush_end() (the
    TLB flush around that entry), requeue_event(), DELIVERY_EXITS and cpl()."""

    DELIVERY_EXITS = frozenset()    # exit codes that may cut an event's delivery short

    def _init_entry(self, io):
        self.host_xcr0 = io.xgetbv(0) if io.cr4() & CR4_OSXSAVE else 1
        self.xcr0 = self.host_xcr0
        self._tlb_flush = True          # a new ASID/VPID or a reused one starts clean
        self._slow[0] = SLOW_WORK       # something to do before the next entry

    def flush_tlb(self):
        """Flush this guest's TLB entries at the next entry (after the
        nested tables lost a mapping or a permission)."""
        self._tlb_flush = True
        self._slow[0] |= SLOW_WORK

    def set_xcr0(self, value):
        """The guest's XCR0, loaded around each entry while it differs from
        the host's."""
        self.xcr0 = value
        self._slow[0] |= SLOW_XCR0

    def _enter_slow(self):
        # The entry when _slow[0] is set: interrupts first (they may open
        # a window), the flush, XCR0 for the guest and back for the host
        # whatever the entry raised. The flag stays set while XCR0 differs
        # or interrupts wait. This Python is the VMM's time: the guest's
        # clock starts at the entry itself (the natives: hv.vmm.ticks). A
        # pending NMI goes first (it outranks maskable interrupts, SDM 3A
        # 6.9). The natives' tier one may call handlers inside _enter()
        # (port/tier.h): what they ask for (interrupts, another flush) is
        # kept for the next entry, so the flush request is taken before.
        if self._nmi_pending:
            self._deliver_nmi()
        if self._irq_queue:
            self._deliver_interrupts()
        flush = self._tlb_flush
        if flush:
            self._flush_begin()
            self._tlb_flush = False
        swap = self.xcr0 != self.host_xcr0
        if swap:
            self.io.xsetbv(0, self.xcr0)
        try:
            code = self._enter()
        finally:
            if swap:
                self.io.xsetbv(0, self.host_xcr0)
            if flush:
                self._flush_end()
            self._slow[0] = (SLOW_XCR0 if swap else 0) | (
                SLOW_WAIT if self._irq_queue or self._nmi_pending else 0) | (
                SLOW_WORK if self._tlb_flush else 0)
        return code

    def _xsetbv_exit(self):
        # XSETBV (both back ends): #GP(0) where the instruction would raise
        # it, else the guest's new XCR0 and RIP past it.
        value = (self.get_gpr(RDX) & 0xFFFFFFFF) << 32 | self.get_gpr(RAX) & 0xFFFFFFFF
        leaf = self.vm.cpuid.answer(0xD, 0)
        if xsetbv_faults(self.get_gpr(RCX) & 0xFFFFFFFF, value, self.cpl(), leaf[0] | leaf[3] << 32):
            self.inject_exception(_VEC_GP, 0)
            return None
        self.set_xcr0(value)
        self.skip_instruction()
        return None
