# The PC's interrupt wiring for one guest: the 16 ISA IRQ lines that device
# models raise and lower, fanned out to every interrupt controller input in
# `route` (the 8259A pair; the I/O APIC joins it), and the one controller the
# vCPU takes its vectors from (`cpu`). Arch-neutral, pure Python.
#
# The contract, for device models and controllers alike:
# - a device model gets `irq` = IsaIrqs.set and calls irq(line, level) when
#   its interrupt output changes: level-style outputs (16550 INTR, RTC IRQF,
#   ACPI SCI) call it on each change, edge-style ones (8254 OUT rising) pulse
#   it, set(line, True) then set(line, False);
# - a sink in `route` has set_irq(line, level) and gets every change of a
#   line; whether a rising edge or the level requests is the sink's own
#   setting (8259A: ICW1 LTIM / the PIIX ELCR; I/O APIC: the redirection
#   entry's trigger mode), as on the board where every controller sees the pin;
# - `cpu` has pending_vector() (the vector INTR would deliver, or -1) and
#   acknowledge() (the INTA cycle: returns that vector and moves it to
#   in-service). It is the PIC until a local APIC takes over and serves the
#   PIC's vectors through LINT0 (ExtINT);
# - after a change, `changed` (when set) is called: the platform then offers
#   the highest pending vector to the vCPU (deliver()) before it re-enters.
from micropython import const

LINES = const(16)


class IsaIrqs:
    """The ISA IRQ lines 0-15 (`levels`: bit n = line n high)."""

    def __init__(self, *sinks):
        self.route = list(sinks)        # set_irq(line, level) for every change
        self.cpu = sinks[0] if sinks else None
        self.levels = 0
        self.changed = None             # fn() after a change: delivery to the vCPU

    def set(self, line, level):
        """Drive ISA IRQ `line` (0-15) high (True) or low; no change, no call."""
        bit = 1 << line
        if bool(self.levels & bit) == bool(level):
            return
        self.levels ^= bit
        for sink in self.route:
            sink.set_irq(line, level)
        if self.changed is not None:
            self.changed()

    def pulse(self, line):
        """An edge-triggered request: the line rises and falls again."""
        self.set(line, True)
        self.set(line, False)

    def deliver(self, vcpu):
        """Queue the highest pending vector on the vCPU when it holds none
        (one at a time: the next after the guest's EOI or its INTA of this
        one); returns the vector or -1."""
        cpu = self.cpu
        if vcpu.pending_interrupts() or cpu.pending_vector() < 0:
            return -1
        vector = cpu.acknowledge()
        if vector >= 0:
            vcpu.inject_interrupt(vector)
        return vector
