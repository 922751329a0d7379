# Guest time and the timers that run on it: the emulated PIT (counter 0's
# edges on ISA IRQ 0, with a lost-tick policy) and any other time source
# (RTC, ACPI PM timer, later the local APIC timer), the vector they cause
# queued on the vCPU when it can take one, the host's own timer set for the
# earliest deadline so a spinning guest exits in time, and the wait of a
# halted guest. Arch-neutral, pure Python (tsc injected).
#
# A time source has next_deadline() -> guest seconds (clock()) at which it
# next changes an interrupt line, or None, and poll(now) that brings it up to
# guest time `now`, driving its lines (hv.vmm.irq). Add it to `sources`. One
# whose guest can read its count at any time (the LAPIC timer) sets
# keeps_time = True: guest time then leaves the VMM's out at every exit.
# An input (the 16550 and its host console) has waiting() -> whether input
# would interrupt the guest now, polled() -> whether the guest may be polling
# for it where the VMM does not see (hv.vcpu.fastio), and poll() taking it
# in; add it to `inputs`.
from array import array
from micropython import const
from hv.vmm.devices.pit import Pit

_RFLAGS_IF = const(1 << 9)
_IRQ_PIT = const(0)
# `state`, shared with the world-switch natives (port/natives.h guest_clock_t).
ON = const(0)                   # 1: the VMM's time is left out of the guest's
STOLEN = const(1)               # host cycles left out so far: the guest's TSC offset is -STOLEN
EXITED = const(2)               # tsc() at the last exit while ON, until the next entry; else 0
CHARGE = const(3)               # host cycles of each exit's VMM time that stay the guest's
DEADLINE = const(4)             # guest TSC of the next deadline the host timer is for; 0: none
ARMED = const(5)                # the natives': host TSC they last set the host timer for
# What an exit may cost the guest's time: the VMM's time beyond it is left
# out. Without it a guest that polls a clock (the RTC's update flag, a
# counter) between exits would see only its own instructions pass per
# exit under an emulator (a few microseconds), and a one-second wait would
# take hundreds of thousands of exits; with it, a tick's handful of exits
# still takes only a small part of a period.
EXIT_CHARGE_S = 0.0001


class Ticks:
    """The PIT (`pit`, made here on this guest time) driving IRQ 0 of irqs
    (hv.vmm.irq.IsaIrqs, whose first sink is the PIC `pic`), and `sources`.
    tsc() -> host cycles at hz() per second; timer: hv.host.timer or a fake.

    A slow exit path (Python under Bochs, a trace on a 115200-baud console)
    must not bury the guest in ticks so that only its timer handler runs:
    - guest time is host time minus what the VMM spends between an exit
      and the next entry beyond EXIT_CHARGE_S (`stolen`, host cycles),
      frozen meanwhile; the guest's TSC runs on it too (its TSC offset is
      -stolen). The natives keep `state` at each entry and exit
      (vcpu.clock is it);
    - a periodic PIT's edge (modes 2, 3) while IRQ 0 is in service is
      dropped (`lost`), where a real 8259A would latch it (KVM's PIT
      lost-tick policy "discard");
    - when a periodic tick took more than a quarter period from injection
      to the guest's EOI, edges in the period after that EOI are dropped as
      well, so the guest's own code gets time: the PIT then runs slow.
    A one-shot count's edge (mode 0: Linux's PIT clockevent once NO_HZ
    runs) is never dropped nor held off: no edge comes after it until the
    guest writes a new count, which it does in the handler of that edge.
    Dropped, the guest waited for a timer that never came (Linux on the
    legacy PC under Bochs stopped after "evm: HMAC attrs")."""

    def __init__(self, irqs, tsc, hz, timer=None):
        self._tsc, self._hz = tsc, hz
        self.irqs = irqs
        self.pic = irqs.route[0]
        self.pit = Pit(self.clock)
        self.sources = []
        self.inputs = []
        self.timer = timer
        self.state = array("Q", (0, 0, 0, 0, 0, 0))   # ON ... ARMED
        self.lost = 0
        self._injected_at = None        # clock() when IRQ 0 went to the vCPU
        self._holdoff = 0.0             # clock() before which PIT edges are dropped
        self._armed_for = None          # the deadline the host timer was last armed for

    @property
    def stolen(self):
        """Host cycles of the VMM's time left out of guest time so far."""
        return self.state[STOLEN]

    def guest_tsc(self):
        """The guest's TSC (what its RDTSC reads): host cycles less the
        VMM's time; it stands still from an exit to the next entry, so it
        never runs back when that time is taken out."""
        s = self.state
        t = s[EXITED]
        return (t if t else self._tsc()) - s[STOLEN]

    def clock(self):
        """Guest time in seconds: guest_tsc() at hz()."""
        return self.guest_tsc() / self._hz()

    def counting(self):
        """Whether a timer will interrupt the guest: only then does guest
        time leave the VMM's out (follow()). Not for a count the guest
        only reads (PIT counter 2, which goes on counting after Linux's TSC
        calibration): a guest polling a clock would then see little more
        than its own instructions pass per exit, and a one-second wait
        would take a million exits."""
        if self.pit.armed_at is not None:
            return True
        for s in self.sources:
            if getattr(s, "keeps_time", False) or s.next_deadline() is not None:
                return True
        return False

    def follow(self, vcpu):
        """The vCPU's entries and exits keep this guest time (vcpu.clock =
        `state`: its natives load -STOLEN as the TSC offset at every entry);
        the VMM's time is left out while counting() (ON), not otherwise,
        so that the per-exit stamps cost nothing when no timer runs."""
        s = self.state
        vcpu.clock = s
        if self.counting():
            if not s[ON]:
                s[ON] = 1
                s[CHARGE] = int(EXIT_CHARGE_S * self._hz())
                s[EXITED] = self._tsc()  # called from the VMM: its time from now on
        elif s[ON]:
            self.entering()             # the clock thaws: no exit will stamp it now
            s[ON] = 0

    def exited(self):
        """VMM time starts now (while ON), as at the guest's exit."""
        s = self.state
        if s[ON]:
            s[EXITED] = self._tsc()

    def entering(self):
        """VMM time since the exit is not the guest's, in its clock nor in
        its TSC: as at the next entry."""
        s = self.state
        t = s[EXITED]
        if t:
            gap = self._tsc() - t
            if gap > s[CHARGE]:
                s[STOLEN] += gap - s[CHARGE]
            s[EXITED] = 0

    def _edges(self):
        # PIT edges due now go to IRQ 0, or are lost; whether any were due
        # (none while counter 0 does not count: no clock read).
        if self.pit.armed_at is None:
            return 0
        n = self.pit.due()
        if n:
            if self.pit.periodic() and (self.pic.master.isr & 1 or self.clock() < self._holdoff):
                self.lost += n
            else:
                self.irqs.pulse(_IRQ_PIT)
        return n

    def pic_write(self, port, width, value, vcpu):
        """Apply a guest write to the PIC, judging the edges due before it
        with IRQ 0 as it was and noting a slow tick at its EOI, then offer
        the vCPU what the write lets through (an EOI, an unmask). Only the
        PIT's next deadline can move here (edges taken, a holdoff); the
        host timer is set again only then: other sources' deadlines stay,
        and the host timer armed for them polls them (Linux writes the PIC
        three times a tick: mask, EOI, unmask). A new mask (OCW1) takes
        no edge: it leaves the in-service bits that judge them, the edges
        wait for the next exit, and an unmask offers what is latched."""
        pic = self.pic
        unmasked = pic.write_mask(port, value)
        if unmasked is not None:
            if unmasked:
                self.deliver(vcpu)
            return
        moved = self._edges()
        master = pic.master
        in_service = master.isr & 1
        pic.io_write(port, width, value)
        if in_service and not master.isr & 1 and self._injected_at is not None:
            now = self.clock()
            if self.pit.periodic() and now - self._injected_at > self.pit.period() / 4:
                self._holdoff = now + self.pit.period()
                moved = 1
            self._injected_at = None
        self.deliver(vcpu)
        if moved:
            self._arm()

    def next_deadline(self):
        """The earliest guest time a timer changes a line, or None."""
        best = self.pit.next_deadline()
        if best is not None and best < self._holdoff and self.pit.periodic():
            best = self._holdoff
        for s in self.sources:
            d = s.next_deadline()
            if d is not None and (best is None or d < best):
                best = d
        return best

    def deliver(self, vcpu):
        """Queue the pending vector, if any, on the vCPU (hv.vmm.irq)."""
        vector = self.irqs.deliver(vcpu)
        if vector >= 0 and vector == self.pic.master.vector_base:
            self._injected_at = self.clock()

    def poll(self, vcpu):
        """Bring every timer up to now (their lines raised for what is due),
        queue the pending vector on the vCPU and set the host timer for the
        next deadline."""
        self._edges()
        now = None                      # the clock is read only when a source needs it
        for s in self.sources:
            d = s.next_deadline()
            if d is not None:
                if now is None:
                    now = self.clock()
                if d <= now:
                    s.poll(now)
        for d in self.inputs:
            if d.waiting() or d.polled():
                d.poll()
        self.deliver(vcpu)
        self._arm()

    def _arm(self):
        # The host timer for the next deadline. The natives set it again at
        # each entry that VMM time moved it by (port/natives.h): from here,
        # it would fire during that time wherever the VMM takes longer
        # than the wait (Python under Bochs), and the guest, entered with
        # the timer's interrupt pending, would exit at once, every time.
        if self.timer is not None:
            deadline = self.next_deadline()
            self.state[DEADLINE] = 0 if deadline is None else int(deadline * self._hz()) + 1
            if deadline is not None and deadline != self._armed_for:
                # Host time runs at least as fast as guest time: the host timer
                # fires at or before the deadline, and poll() sets it again.
                # The same deadline keeps the timer as it is: periodic, it
                # fires again until the guest's time gets there.
                self._armed_for = deadline
                self.timer.arm(deadline - self.clock())

    def halted(self, vcpu):
        """The guest ran HLT with interrupts on: wait for the next timer
        deadline and deliver what it raises. False when nothing will ever
        wake the guest."""
        if not vcpu.rflags & _RFLAGS_IF:
            return False
        self.poll(vcpu)
        if vcpu.pending_interrupts():
            return True
        deadline = self.next_deadline()
        listen = None
        for d in self.inputs:
            if d.waiting():
                listen = d
        if deadline is None and listen is None:
            return False
        self.entering()                 # the wait is the guest's time
        clock = self.clock
        # Until the next deadline, or input raises its line (the vector is
        # then queued at once, hv.vmm.irq). Ctrl-C lands here as KeyboardInterrupt.
        while deadline is None or clock() < deadline:
            if listen is not None:
                listen.poll()
                if vcpu.pending_interrupts():
                    break
        self.exited()
        if deadline is not None:
            self._woken_at(deadline)
        self.poll(vcpu)
        return True

    def _woken_at(self, deadline):
        # A wait that overran its deadline (a garbage collection in the loop
        # above, a slow host) still ends the guest's HLT at the deadline, as
        # a CPU's ends at the interrupt: the overrun is the VMM's time. Left
        # as the guest's, one collection under Bochs (~1 s) made the LAPIC
        # timer's first periodic tick a second late, ten periods coalesced.
        s = self.state
        if s[ON]:
            over = self.guest_tsc() - (int(deadline * self._hz()) + 1)
            if over > 0:
                s[STOLEN] += over

    def stop(self):
        """The run is over: give the host timer back; the time until the
        next run's first entry is the guest's."""
        s = self.state
        s[ON] = s[EXITED] = s[DEADLINE] = s[ARMED] = 0
        self._armed_for = None
        if self.timer is not None:
            self.timer.disarm()
