# The I/O APIC (Intel 82093AA datasheet): IOREGSEL/IOWIN at its MMIO base
# (3.1), ID, version and arbitration registers (3.2.1-3.2.3), 24 redirection
# entries (3.2.4) with edge and level inputs, masking, and the remote IRR a
# local APIC's EOI clears. Messages go to deliver(mode, vector, level, dest,
# logical) of the VMM's choosing (the LAPIC). Pure Python.
from hv.vmm.devices import apic_defs as D


class IoApic:
    """read(addr, width)/write(addr, width, value) fit vcpu.register_mmio;
    set_irq(pin, level) and pulse(pin) are the input pins; eoi(vector) is
    the local APIC's EOI broadcast."""

    def __init__(self, deliver=None, base=D.IOAPIC_BASE):
        self.base = base
        self.deliver = deliver          # fn(mode, vector, level, dest, logical) -> accepted
        self.sel = 0
        self.id = 0
        self.rte = [D.RTE_RESET] * D.IOAPIC_PINS
        # Each input as asserted (1) or not: the devices say when they
        # request service, and the polarity bit (3.2.4 bit 13) is kept as the
        # guest's account of the wiring, as KVM's ioapic does; an active-low
        # entry on an idle line would otherwise fire at once.
        self.lines = [0] * D.IOAPIC_PINS

    # -- MMIO (3.1) ------------------------------------------------------------
    def read(self, addr, width):
        off = addr - self.base
        if off == D.IOREGSEL:
            return self.sel
        if off == D.IOWIN and width == 4:
            return self.read_reg(self.sel)
        return 0                        # the window decodes 32-bit accesses only

    def write(self, addr, width, value):
        off = addr - self.base
        if off == D.IOREGSEL:
            self.sel = value & 0xFF
        elif off == D.IOWIN and width == 4:
            self.write_reg(self.sel, value & 0xFFFFFFFF)

    # -- registers (3.2) -----------------------------------------------------
    def read_reg(self, index):
        """Register `index`; an index past the table reads all ones (the
        datasheet leaves it undefined; KVM's ioapic_read_indirect)."""
        if index == D.IOAPICID:
            return self.id
        if index == D.IOAPICVER:
            return D.IOAPIC_VERSION_VALUE
        if index == D.IOAPICARB:
            return self.id              # the arbitration ID loads from the ID (3.2.3)
        pin = (index - D.IOREDTBL0) >> 1
        if index < D.IOREDTBL0 or pin >= D.IOAPIC_PINS:
            return 0xFFFFFFFF
        r = self.rte[pin]
        return r >> 32 if index & 1 else r & 0xFFFFFFFF

    def write_reg(self, index, value):
        """Writes to read-only and absent registers are dropped."""
        if index == D.IOAPICID:
            self.id = value & D.IOAPIC_ID_MASK
            return
        pin = (index - D.IOREDTBL0) >> 1
        if index < D.IOREDTBL0 or pin >= D.IOAPIC_PINS:
            return
        r = self.rte[pin]
        if index & 1:
            r = r & 0xFFFFFFFF | (value & D.RTE_HIGH_WRITABLE) << 32
        else:
            ro = D.RTE_REMOTE_IRR | 1 << 12
            r = r & ~0xFFFFFFFF | r & ro | value & D.RTE_LOW_WRITABLE
            if not r & D.RTE_LEVEL:
                r &= ~D.RTE_REMOTE_IRR  # edge mode keeps no remote IRR
        self.rte[pin] = r
        self._service(pin)              # unmasking an asserted level input sends it

    # -- inputs ----------------------------------------------------------------
    def _asserted(self, pin):
        return self.lines[pin]

    def set_irq(self, pin, level):
        """Input `pin` (0-23) asserted or not: an edge entry sends on
        the change to asserted, a level entry while asserted without a
        remote IRR. Out-of-range pins are not wired: ignored."""
        if not 0 <= pin < D.IOAPIC_PINS:
            return
        was = self._asserted(pin)
        self.lines[pin] = 1 if level else 0
        now = self._asserted(pin)
        r = self.rte[pin]
        if r & D.RTE_LEVEL:
            self._service(pin)
        elif now and not was and not r & D.RTE_MASKED:
            self._send(pin, r)          # an edge while masked is lost

    def pulse(self, pin):
        """An ISA edge (the line up, then down): one message on an edge entry."""
        self.set_irq(pin, 1)
        self.set_irq(pin, 0)

    def _service(self, pin):
        r = self.rte[pin]
        if r & D.RTE_LEVEL and not r & (D.RTE_MASKED | D.RTE_REMOTE_IRR) and self._asserted(pin):
            if self._send(pin, r):
                self.rte[pin] |= D.RTE_REMOTE_IRR

    def _send(self, pin, r):
        if self.deliver is None:
            return False
        return self.deliver(r >> 8 & 7, r & 0xFF, bool(r & D.RTE_LEVEL), r >> 56,
                            bool(r & 1 << 11))

    def eoi(self, vector):
        """A local APIC's EOI for a level-triggered vector: the remote IRR of
        every level entry with it cleared, and a still-asserted input sent
        again (3.2.4 bit 14)."""
        for pin in range(D.IOAPIC_PINS):
            r = self.rte[pin]
            if r & D.RTE_REMOTE_IRR and r & 0xFF == vector:
                self.rte[pin] = r & ~D.RTE_REMOTE_IRR
                self._service(pin)
