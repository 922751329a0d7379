# The Intel 8254 programmable interval timer at ports 0x40-0x43 (datasheet
# 231164-005): three counters (pit_counter.Counter) on one 1.193182 MHz clock,
# the control word, counter latch and read-back commands. Counter 0's OUT is
# IRQ 0; counter 2's GATE and OUT are bits 0 and 5 of port 0x61 (port61.py).
# Pure Python; time from a clock the VMM passes in (guest seconds).
from micropython import const
from hv.vmm.devices.pit_counter import Counter

PIT_HZ = const(1193182)
_CH0 = const(0x40)
_CMD = const(0x43)
_SC_READBACK = const(3)         # "Control Word Format": SC1 SC0 = 11
_RB_NO_COUNT = const(0x20)      # "Read-Back Command": COUNT# (0 = latch the count)
_RB_NO_STATUS = const(0x10)     # STATUS# (0 = latch the status)


class Pit:
    """clock() -> guest seconds; irq(line, level), when given, receives
    counter 0's OUT rising edges as IRQ 0 pulses from poll(). The counters
    are `counters[0..2]`; set_gate(2, level) and out(2) serve port 0x61.
    due(), next_deadline(), periodic(), period() and armed_at describe counter 0 for
    hv.vmm.ticks."""

    def __init__(self, clock, irq=None):
        self.clock = clock
        self.irq = irq
        self.ports = (_CH0, 0x41, 0x42, _CMD)
        self.counters = (Counter(), Counter(), Counter(gate=False))  # port 0x61 resets to 0
        self._reported = 0          # counter 0 edges already returned by due()

    def _now(self):
        return int(self.clock() * PIT_HZ)

    def _now_for(self, c, loads=False):
        # A counter that does not count has no use for the time: the clock
        # is read only when it matters (the VMM's clock may cost an exit's
        # worth of bookkeeping).
        return self._now() if loads or c.start is not None or c.prev is not None else 0

    # -- ports ------------------------------------------------------------------
    def io_write(self, port, width, value):
        value &= 0xFF
        if port != _CMD:
            c = self.counters[port - _CH0]
            c.write(value, self._now_for(c, c.rw != 3 or c.w_hi))
            return
        sc = value >> 6
        if sc == _SC_READBACK:
            for i in range(3):
                if value & (2 << i):
                    c = self.counters[i]
                    now = self._now_for(c)
                    if not value & _RB_NO_STATUS:
                        c.latch_status(now)
                    if not value & _RB_NO_COUNT:
                        c.latch_count(now)
            return
        c = self.counters[sc]
        now = self._now_for(c)
        if value & 0x30 == 0:
            c.latch_count(now)          # "Counter Latch Command": RW1 RW0 = 00
        else:
            c.control(value & 0x3F, now)

    def io_read(self, port, width):
        if port == _CMD:
            return 0xFF                 # A1 A0 = 11 read: "No-Operation (3-State)"
        c = self.counters[port - _CH0]
        return c.read(self._now_for(c))

    # -- GATE and OUT -----------------------------------------------------------
    def set_gate(self, counter, level):
        c = self.counters[counter]
        c.set_gate(level, self._now_for(c, c.has_count))

    def out(self, counter):
        c = self.counters[counter]
        return c.out(self._now_for(c))

    # -- counter 0 as IRQ 0 -------------------------------------------------------
    @property
    def armed_at(self):
        """clock() time counter 0 started counting, or None while it does not."""
        c = self.counters[0]
        return None if c.start is None else c.start / PIT_HZ

    @armed_at.setter
    def armed_at(self, value):
        if value is not None:
            raise ValueError("armed_at can only be cleared (None): program the PIT to start it")
        c = self.counters[0]
        self._reported = c.edges_before = c.edges(self._now())
        c.start = c.prev = c.paused = None

    def periodic(self):
        """Whether counter 0 repeats (modes 2 and 3, "Mode Definitions"):
        the one-shot modes (0, 1, 4, 5) raise IRQ 0 once per count written."""
        return self.counters[0].mode in (2, 3)

    def period(self):
        """Counter 0's period in seconds (its initial count over the clock)."""
        return self.counters[0].n / PIT_HZ

    def due(self, now=None):
        """How many IRQ 0 edges (counter 0 OUT rising) since the last call
        (up to guest time `now`, default clock())."""
        c = self.counters[0]
        if c.start is None and c.prev is None and c.edges_before == self._reported:
            return 0                    # stopped, nothing left to report: no clock read
        total = c.edges(self._now() if now is None else int(now * PIT_HZ))
        new = total - self._reported
        self._reported = total
        return new

    def next_deadline(self):
        """clock() time of the next IRQ 0 edge not yet returned by due()
        (in the past when one is due), or None when none will come."""
        tick = self.counters[0].edge_tick(self._reported + 1)
        if tick is None:
            return None
        t = tick / PIT_HZ
        while int(t * PIT_HZ) < tick:   # the float must map back to that tick
            t += t * 4.5e-16 + 1e-300
        return t

    def poll(self, now=None):
        """Raise IRQ 0 (a pulse on irq) if counter 0's OUT rose since the last
        call; edges that came together are one request to an edge-triggered
        PIC or I/O APIC pin, as on hardware where they come faster than
        the guest takes them."""
        if self.due(now) and self.irq is not None:
            self.irq(0, True)
            self.irq(0, False)
