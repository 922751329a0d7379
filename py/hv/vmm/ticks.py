# Timer ticks for a guest: guest time for the emulated PIT, its IRQ 0 edges
# raised on the emulated PIC and the PIC's vector queued on the vCPU when it
# can take one, the host's own timer set so a spinning guest exits in time,
# and the wait of a halted guest. Arch-neutral, pure Python (tsc injected).
from micropython import const
from hv.vmm.devices.pit import Pit

_RFLAGS_IF = const(1 << 9)


class Ticks:
    """The PIT (`pit`, made here on this guest time) driving IRQ 0 of pic.
    tsc() -> host cycles at hz() per second; timer: hv.host.timer or a fake.

    A slow exit path (Python under Bochs, a trace on a 115200-baud console)
    must not bury the guest in ticks so that only its timer handler runs:
    - the PIT counts guest time: host time minus what the VMM spends between
      an exit and the next entry (`stolen`, host cycles), frozen meanwhile;
    - a PIT edge while IRQ 0 is in service is dropped (`lost`), where a real
      8259A would latch it (KVM's PIT lost-tick policy "discard");
    - when a tick took more than a quarter period from injection to the
      guest's EOI, edges in the period after that EOI are dropped as well,
      so the guest's own code gets time: the PIT then runs slow."""

    def __init__(self, pic, tsc, hz, timer=None):
        self._tsc, self._hz = tsc, hz
        self.pit, self.pic = Pit(self.clock), pic
        self.timer = timer
        self.stolen = 0
        self.lost = 0
        self._mark = None               # tsc() at the last exit while the PIT counts
        self._injected_at = None        # clock() when IRQ 0 went to the vCPU
        self._holdoff = 0.0             # clock() before which edges are dropped

    def clock(self):
        """Guest time in seconds; it stands still from an exit to the next
        entry, so it never runs back when that time is taken out."""
        t = self._mark
        return ((self._tsc() if t is None else t) - self.stolen) / self._hz()

    def exited(self):
        """The guest left: VMM time starts (counted only while the PIT runs)."""
        if self.pit.armed_at is not None:
            self._mark = self._tsc()

    def entering(self):
        """The guest goes back in: VMM time since exited() is not the guest's."""
        if self._mark is not None:
            self.stolen += self._tsc() - self._mark
            self._mark = None

    def _edges(self):
        n = self.pit.due()
        if n:
            if self.pic.master.isr & 1 or self.clock() < self._holdoff:
                self.lost += n
            else:
                self.pic.raise_irq(0)

    def pic_write(self, write):
        """Apply a guest write to the PIC (write()), judging the edges due
        before it with IRQ 0 as it was, and noting a slow tick at its EOI."""
        self._edges()
        in_service = self.pic.master.isr & 1
        write()
        if in_service and not self.pic.master.isr & 1 and self._injected_at is not None:
            now = self.clock()
            if now - self._injected_at > self.pit.period() / 4:
                self._holdoff = now + self.pit.period()
            self._injected_at = None

    def poll(self, vcpu):
        """Raise IRQ 0 for the PIT edges that are due, queue the PIC's
        pending vector on the vCPU (one at a time: the next after the
        guest's EOI) and set the host timer for the next edge."""
        pit, pic = self.pit, self.pic
        if pit.armed_at is None:
            return
        self._edges()
        if vcpu.pending_interrupts() == 0 and pic.pending_vector() >= 0:
            vector = pic.acknowledge()
            if vector == pic.master.vector_base:
                self._injected_at = self.clock()
            vcpu.inject_interrupt(vector)
        deadline = pit.next_deadline()
        if deadline is not None and self.timer is not None:
            # Host time runs at least as fast as guest time: the host timer
            # fires at or before the edge, and poll() sets it again.
            self.timer.arm(deadline - self.clock())

    def halted(self, vcpu):
        """The guest ran HLT with interrupts on: wait for the next timer
        edge and queue it. False when nothing will ever wake the guest."""
        if not vcpu.rflags & _RFLAGS_IF:
            return False
        self.poll(vcpu)
        if vcpu.pending_interrupts():
            return True
        deadline = self.pit.next_deadline()
        if deadline is None:
            return False
        deadline = max(deadline, self._holdoff)
        self.entering()                 # the wait is the guest's time
        clock = self.clock
        while clock() < deadline:       # Ctrl-C lands here as KeyboardInterrupt
            pass
        self.exited()
        self.poll(vcpu)
        return True

    def stop(self):
        """The run is over: give the host timer back."""
        self._mark = None
        if self.timer is not None:
            self.timer.disarm()
