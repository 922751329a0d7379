# The APIC half of the PC's interrupt wiring: one vCPU's local APIC (its
# xAPIC page and MSRs registered with the vCPU), the I/O APIC at 0xFEC00000
# on the ISA lines (IRQ 0 on pin 2), the PIC's INTR through LINT0 in ExtINT
# mode (virtual wire, MP spec 1.4 3.6.2.2), and the LAPIC timer as a time
# source on the guest's TSC (guest time: hv.vmm.ticks). Fits hv.vmm.irq's
# contract as a sink (set_irq) and as the `cpu` controller (pending_vector,
# acknowledge). Arch-neutral, pure Python.
from hv.vmm.devices import apic_defs as D
from hv.vmm.devices.ioapic import IoApic
from hv.vmm.devices.lapic import Lapic
from hv.vmm.devices.lapic_page import ApicPage
from hv.vmm.devices.x2apic import ApicMsrs


class Apics:
    """pic: the 8259A pair (hv.vmm.devices.pic); tsc(), hz(): the guest's
    TSC (hv.vmm.ticks.guest_tsc: guest time, the time sources' unit, is
    tsc() / hz() seconds).
    `changed` (when set) is called after anything that may make a vector
    deliverable or move the timer's deadline (the platform then delivers
    and re-arms)."""

    # A count the guest reads (the LAPIC timer's current count) runs on guest
    # time whether or not the timer is armed now: hv.vmm.ticks leaves the
    # VMM's time out of it at every exit, not only while a deadline is set.
    keeps_time = True

    def __init__(self, pic, tsc, hz, maxphyaddr=36):
        self.pic = pic
        self._hz = hz
        self.lapic = lapic = Lapic(tsc, hz)
        self.page = ApicPage(lapic)
        self.msrs = ApicMsrs(lapic, maxphyaddr)
        self.ioapic = IoApic(self._message)
        lapic.eoi_sink = self.ioapic.eoi
        self.changed = None
        self._extint = False            # an ExtINT message from the I/O APIC awaits INTA
        self._page_at = None            # where the xAPIC page is registered now
        self._vcpu = None

    # -- hv.vmm.irq: an ISA line sink --------------------------------------------
    def set_irq(self, line, level):
        self.ioapic.set_irq(D.isa_gsi(line), level)

    # -- hv.vmm.irq: the controller the vCPU takes vectors from --------------------
    def _pic_wired(self):
        return self._extint or self.lapic.lint0_extint()

    def pending_vector(self):
        """ExtINT first (the PIC's vector, outside IRR/ISR, 11.5.1; KVM
        likewise takes it before the APIC's), then the APIC's by priority."""
        if self._pic_wired():
            v = self.pic.pending_vector()
            if v >= 0:
                return v
        return self.lapic.pending()

    def acknowledge(self):
        if self._pic_wired() and self.pic.pending_vector() >= 0:
            self._extint = False
            return self.pic.acknowledge()
        return self.lapic.acknowledge()

    # -- the I/O APIC's messages --------------------------------------------------------
    def _message(self, mode, vector, level, dest, logical):
        lapic = self.lapic
        if not lapic.enabled() or not lapic._matches(dest, logical):
            return False
        if mode == D.DM_EXTINT:
            self._extint = True
            return True
        return lapic.deliver(mode, vector, level)

    # -- a time source (hv.vmm.ticks) --------------------------------------------------
    def next_deadline(self):
        """Guest seconds of the LAPIC timer's next expiry, or None."""
        t = self.lapic.timer.next_deadline()
        return None if t is None else t / self._hz()

    def poll(self, now):
        self.lapic.poll_timer()         # hv.vmm.ticks delivers after polling its sources

    # -- the vCPU's view ----------------------------------------------------------------
    def attach(self, vcpu):
        """Register the xAPIC page, the I/O APIC and the APIC MSRs with the vCPU."""
        if vcpu is not self._vcpu:
            self._page_at = None
        self._vcpu = vcpu
        vcpu.register_mmio(self.ioapic.base, D.IOAPIC_SIZE, self.ioapic.read, self._ioapic_write)
        self._place_page()
        for n in self.msrs.numbers:
            vcpu.register_msr(n, self.msrs.read, self._msr_write)
        self.lapic.cr8 = vcpu.cr8_access()
        self.lapic.nmi_sink = vcpu.inject_nmi
        vcpu.tpr_hook = self._changed

    def close(self):
        """The VM is closed: no vCPU, sinks or hooks kept (hv.vmm.platform.close)."""
        self._vcpu = self.changed = None
        self.lapic.eoi_sink = self.lapic.cr8 = self.lapic.nmi_sink = None
        self.ioapic.deliver = None

    def _place_page(self):
        # The xAPIC page follows IA32_APIC_BASE (11.4.5); over guest RAM it
        # cannot be (the guest then reaches RAM there, as with a disabled APIC).
        vcpu, at = self._vcpu, self.lapic.page()
        if at == self._page_at:
            return
        if self._page_at is not None:
            vcpu.register_mmio(self._page_at, D.APIC_PAGE, None, None)
            self._page_at = None
        try:
            vcpu.register_mmio(at, D.APIC_PAGE, self.page.read, self._page_write)
            self._page_at = at
        except ValueError:
            pass

    def _changed(self):
        if self.changed is not None:
            self.changed()
        self._tpr_window()

    def _tpr_window(self):
        # A vector TPR holds back waits for the guest to lower CR8, which
        # exits by itself on VMX (CR8-load exiting) but not on SVM: there the
        # CR8-write intercept goes on until the write (vcpu.tpr_window).
        vcpu = self._vcpu
        v = self.lapic.blocked()
        if v >= 0 and vcpu is not None and self.lapic.tpr >> 4 >= v >> 4:
            vcpu.tpr_window(v >> 4)

    def _page_write(self, addr, width, value):
        self.page.write(addr, width, value)
        self._changed()

    def _ioapic_write(self, addr, width, value):
        self.ioapic.write(addr, width, value)
        self._changed()

    def _msr_write(self, msr, value):
        self.msrs.write(msr, value)
        if msr == 0x1B:
            self._place_page()
        self._changed()
