# The local APIC of one vCPU (Intel SDM Vol. 3A ch. 11): IA32_APIC_BASE and its
# xAPIC/x2APIC/disabled states, IRR/ISR/TMR and priorities, EOI (broadcast
# to the I/O APIC), ESR, LVTs, the timer (hv.vmm.devices.lapic_timer); the
# register file by offset (read(), write()) is in lapic_regs, the ICR's IPIs
# in lapic_ipi, the x2APIC MSR rules in x2apic. Pure Python.
from hv.vmm.devices import apic_defs as D
from hv.vmm.devices.lapic_ipi import LapicIpis
from hv.vmm.devices.lapic_regs import LapicRegisters
from hv.vmm.devices.lapic_timer import LapicTimer
from hv.x86.fault import GuestFault

_GP = 13


def _top(words):
    # The highest set bit of a 256-bit register kept as 8 words, or -1.
    for i in range(7, -1, -1):
        w = words[i]
        if w:
            n = 0
            for s in (16, 8, 4, 2, 1):
                if w >> s:
                    w >>= s
                    n += s
            return i << 5 | n
    return -1


class Lapic(LapicRegisters, LapicIpis):
    """apic_id: the initial APIC ID (the x2APIC ID too). tsc(), tsc_hz():
    the guest's TSC, which the timer runs on. Sinks the VMM connects: eoi(vector) for a level EOI
    (the I/O APIC's remote IRR), nmi() for an NMI to this CPU; `ipis`
    records INIT, SIPI, SMI and IPIs to other CPUs (none yet) as
    (delivery mode, vector, destination). cr8: None, or (get, set) of the
    vCPU's CR8 where TPR[7:4] lives while the guest runs."""

    def __init__(self, tsc, tsc_hz, apic_id=0, bsp=True):
        self.apic_id = apic_id
        self.bsp = bsp
        self.timer = LapicTimer(tsc, tsc_hz)
        self.eoi_sink = None
        self.nmi_sink = None
        self.cr8 = None
        self.ipis = []
        self.nmis = 0                   # NMIs to deliver when no nmi_sink takes them
        self.irr = [0] * 8
        self.isr = [0] * 8
        self.tmr = [0] * 8
        self.base = D.APIC_BASE_RESET if bsp else D.APIC_BASE_RESET & ~D.APIC_BASE_BSP
        self._reset()

    def _reset(self):
        # Power-up state of the registers (11.4.7.1); the base MSR is the caller's.
        for r in (self.irr, self.isr, self.tmr):
            for i in range(8):
                r[i] = 0
        self.id = self.apic_id << 24
        self._tpr = 0
        self.ldr = 0
        self.dfr = D.DFR_RESET
        self.svr = D.SVR_RESET
        self.esr = 0
        self._esr_pending = 0
        self.icr = 0                    # the 64-bit ICR (x2APIC layout: dest in 63:32)
        self.lvt = {off: D.LVT_RESET for off in D.LVT_OFFSETS}
        # LINT0 in virtual-wire mode (ExtINT, unmasked) on the BSP, as a BIOS
        # leaves it (MP spec 1.4 3.6.2.2) and KVM resets it (kvm_lapic_reset),
        # so the legacy PIC reaches a guest that never touches its APIC.
        if self.bsp:
            self.lvt[D.LVT_LINT0] = D.DM_EXTINT << 8
        self.timer.reset()

    # -- state ---------------------------------------------------------------
    def enabled(self):
        """Hardware-enabled (IA32_APIC_BASE.EN)."""
        return bool(self.base & D.APIC_BASE_EN)

    def x2apic(self):
        return self.base & (D.APIC_BASE_EN | D.APIC_BASE_EXTD) == D.APIC_BASE_EN | D.APIC_BASE_EXTD

    def sw_enabled(self):
        return self.enabled() and bool(self.svr & D.SVR_ENABLE)

    def page(self):
        """Guest-physical base of the xAPIC page."""
        return self.base & 0xFFFFFFFFFF000

    def write_base(self, value, maxphyaddr=36):
        """WRMSR IA32_APIC_BASE (11.4.4, 11.12.5 Figure 11-27): reserved bits,
        EXTD without EN, x2APIC -> xAPIC and disabled -> x2APIC raise
        #GP(0); BSP is read-only; disabling resets the registers (11.12.5.1)."""
        if value & D.APIC_BASE_RESERVED_LOW or value >> maxphyaddr:
            raise GuestFault(_GP, 0)
        en, extd = value & D.APIC_BASE_EN, value & D.APIC_BASE_EXTD
        if extd and not en:
            raise GuestFault(_GP, 0)     # invalid state
        was_x2, was_en = self.x2apic(), self.enabled()
        if was_x2 and en and not extd:
            raise GuestFault(_GP, 0)     # x2APIC -> xAPIC: only through disabled
        if not was_en and extd:
            raise GuestFault(_GP, 0)     # disabled -> x2APIC: only through xAPIC
        self.base = value & ~D.APIC_BASE_BSP | self.base & D.APIC_BASE_BSP
        if was_en and not en:
            self._reset()
        elif extd and not was_x2:
            # Entering x2APIC: the 32-bit ID and the logical ID derived from
            # it (11.12.5.1, 11.12.10.2).
            self.id = self.apic_id
            self.ldr = (self.apic_id >> 4) << 16 | 1 << (self.apic_id & 0xF)

    # -- priorities (11.8.3.1) --------------------------------------------------
    @property
    def tpr(self):
        t = self._tpr
        if self.cr8 is not None:
            hi = self.cr8[0]() & 0xF
            if hi != t >> 4:             # MOV CR8 wrote it: TPR[3:0] cleared (11.8.6.1)
                t = self._tpr = hi << 4
        return t

    def set_tpr(self, value):
        self._tpr = value & 0xFF
        if self.cr8 is not None:
            self.cr8[1](value >> 4 & 0xF)

    def ppr(self):
        tpr = self.tpr
        isrv = _top(self.isr)
        if isrv < 0 or tpr & 0xF0 >= isrv & 0xF0:
            return tpr
        return isrv & 0xF0

    def pending(self):
        """The vector the CPU would take now (highest IRR above PPR[7:4]), or
        -1. A software-disabled APIC still holds what its IRR has (11.4.7.2)."""
        v = _top(self.irr)
        if v < 0 or not self.enabled() or v & 0xF0 <= self.ppr() & 0xF0:
            return -1
        return v

    def acknowledge(self):
        """The CPU takes pending(): IRR -> ISR (11.8.4); the vector or -1."""
        v = self.pending()
        if v >= 0:
            w, b = v >> 5, 1 << (v & 31)
            self.irr[w] &= ~b
            self.isr[w] |= b
        return v

    def blocked(self):
        """The highest IRR vector a TPR/ISR priority holds back, or -1."""
        v = _top(self.irr)
        return v if v >= 0 and self.pending() < 0 and self.enabled() else -1

    def eoi(self):
        """EOI (11.8.5): the highest ISR bit cleared; a level-triggered
        vector (TMR set) is broadcast to the I/O APIC."""
        v = _top(self.isr)
        if v < 0:
            return
        w, b = v >> 5, 1 << (v & 31)
        self.isr[w] &= ~b
        if self.tmr[w] & b and self.eoi_sink is not None:
            self.eoi_sink(v)

    # -- accepting interrupts (11.5, 11.6) --------------------------------------
    def accept(self, vector, level=False):
        """A fixed interrupt arrives: IRR set, TMR as its trigger (11.8.4).
        Vectors 0-15 are refused with ESR bit 6 (11.5.2); a software-disabled
        APIC takes no fixed interrupt (KVM's __apic_accept_irq)."""
        if not self.enabled():
            return False
        if vector < 16:
            self.error(D.ESR_RECV_ILLEGAL_VECTOR)
            return False
        if not self.svr & D.SVR_ENABLE:
            return False
        w, b = vector >> 5, 1 << (vector & 31)
        self.irr[w] |= b
        if level:
            self.tmr[w] |= b
        else:
            self.tmr[w] &= ~b
        return True

    def deliver(self, mode, vector, level=False):
        """An interrupt message for this CPU (I/O APIC, IPI, LVT): by delivery mode."""
        if mode == D.DM_FIXED or mode == D.DM_LOWEST:
            return self.accept(vector, level)
        if mode == D.DM_NMI:
            self.nmi()
            return True
        self.ipis.append((mode, vector, self.apic_id))      # INIT, SIPI, SMI, ExtINT message
        return True

    def nmi(self):
        if self.nmi_sink is not None:
            self.nmi_sink()
        else:
            self.nmis += 1

    def error(self, bits):
        """An error (11.5.3): latched until the next ESR write; the error LVT fires."""
        self._esr_pending |= bits
        self._lvt_fire(D.LVT_ERROR)

    def _lvt_fire(self, off):
        lvt = self.lvt[off]
        if lvt & D.LVT_MASKED or not self.enabled():
            return
        mode = lvt >> 8 & 7 if off in (D.LVT_LINT0, D.LVT_LINT1, D.LVT_THERMAL, D.LVT_PERF) else 0
        self.deliver(mode, lvt & 0xFF, off in (D.LVT_LINT0, D.LVT_LINT1) and bool(lvt & D.LVT_LEVEL))

    def lint0_extint(self):
        """Whether the PIC's INTR reaches the CPU (11.5.1): LINT0 unmasked in
        ExtINT mode, or the APIC hardware-disabled (LINT0 is then INTR, 11.4.3)."""
        if not self.enabled():
            return True
        lvt = self.lvt[D.LVT_LINT0]
        return not lvt & D.LVT_MASKED and lvt >> 8 & 7 == D.DM_EXTINT

    def lint1(self):
        """The LINT1 pin asserted (NMI on a PC, 11.5.1)."""
        if not self.enabled():
            self.nmi()
        else:
            self._lvt_fire(D.LVT_LINT1)

    def poll_timer(self):
        """Timer expirations since the last call: one LVT timer interrupt
        (several coalesce in IRR, as on hardware)."""
        if self.timer.due():
            self._lvt_fire(D.LVT_TIMER)
