# One counter of the Intel 8254 programmable interval timer (datasheet
# 231164-005): modes 0-5, binary/BCD, GATE, OUT and the count at any clock
# tick, the counter and status latches, and the rising edges of OUT so far.
# Pure Python, integer ticks of the 1.193182 MHz input clock; used by pit.Pit.
from micropython import const

_RW_LSB = const(1)
_RW_MSB = const(2)
_RW_WORD = const(3)
STATUS_OUT = const(0x80)        # 8254 "Status Byte": OUTPUT pin
STATUS_NULL = const(0x40)       # NULL COUNT: the last count written is not yet in CE


def _bcd_decode(v):
    return (v >> 12) * 1000 + ((v >> 8) & 15) * 100 + ((v >> 4) & 15) * 10 + (v & 15)


def _bcd_encode(n):
    return (n // 1000) << 12 | (n // 100 % 10) << 8 | (n // 10 % 10) << 4 | n % 10


class Counter:
    """A counter's state as a function of time. `now` is always the tick
    count of the PIT's input clock. The counting element (CE) is loaded with
    `n` at tick `start`; `start` is None while nothing counts (no count yet,
    waiting for a GATE trigger in modes 1/5, GATE low in modes 2/3). The
    load itself is taken as instantaneous (the datasheet's extra first CLK
    is 0.84 us, below what a guest can observe through the VMM)."""

    def __init__(self, gate=True):
        self.gate = gate        # GATE 0/1 are tied high on the PC; 2 is port 0x61 bit 0
        self.start = self.paused = self.prev = None
        self.hold = self.edges_before = 0
        # The state after power-up is undefined: take "control word written,
        # no count yet" in mode 0 (OUT low, nothing counts, no IRQ 0).
        self.control(0x30, 0)

    # -- time model: the datasheet's "Mode Definitions" ------------------------
    def _elapsed(self, now):
        if self.start is None:
            return None
        if self.paused is not None:
            return self.paused
        t = now - self.start
        return t if t > 0 else 0                # a `now` from before the load: not yet counting

    def _settle(self, now):
        # Modes 2/3: a count written while counting takes effect at the end of
        # the current period ("Mode 2 ... Writing a new count while counting
        # does not affect the current counting sequence"); until then the old
        # period (prev) runs.
        p = self.prev
        if p is not None and now >= self.start:
            self.edges_before += (self.start - p[0]) // p[1]
            self.prev = None
            self.null = False

    def _edges_of(self, n, t):
        # Rising edges of OUT after t ticks of counting n (the PIC is edge
        # triggered: these are the IRQ 0 requests).
        m = self.mode
        if m >= 4:
            return 1 if t > n else 0            # strobe: low at CE = 0 (t = n), high again at n + 1
        if m >= 2:
            return t // n                        # periodic: OUT rises as CE reloads
        return 1 if t >= n else 0               # 0 and 1: OUT goes high at terminal count

    def edges(self, now):
        """Rising edges of OUT since power-up, up to tick `now`."""
        self._settle(now)
        if self.prev is not None:
            start, n = self.prev
            return self.edges_before + (now - start) // n
        t = self._elapsed(now)
        return self.edges_before if t is None else self.edges_before + self._edges_of(self.n, t)

    def edge_tick(self, k):
        """Tick of rising edge number k (as counted by edges()), which may
        lie in the past, or None when the programmed count never makes it."""
        j = k - self.edges_before
        p = self.prev
        if p is not None:
            first = (self.start - p[0]) // p[1]
            if j <= first:
                return p[0] + j * p[1]
            j -= first
        elif self.start is None or self.paused is not None or j < 1:
            return None
        m = self.mode
        if m in (2, 3):
            return self.start + j * self.n
        if j != 1:
            return None
        return self.start + self.n + (1 if m >= 4 else 0)

    def out(self, now):
        """The level of OUT at tick `now`."""
        self._settle(now)
        if self.prev is not None:
            start, n = self.prev
            return self._out_of(n, now - start)
        t = self._elapsed(now)
        return self.out_idle if t is None else self._out_of(self.n, t)

    def _out_of(self, n, t):
        m = self.mode
        if m == 2:
            return t % n != n - 1               # low for the one CLK with CE = 1
        if m == 3:
            return t % n < (n + 1) // 2         # high for ceil(N/2), low for floor(N/2)
        if m >= 4:
            return t != n
        return t >= n

    def value(self, now):
        """The counting element at tick `now` (binary; BCD is applied on read)."""
        self._settle(now)
        if self.prev is not None:
            start, n = self.prev
            return self._value_of(n, now - start)
        t = self._elapsed(now)
        return self.hold if t is None else self._value_of(self.n, t)

    def _value_of(self, n, t):
        m = self.mode
        if m == 2:
            return n - t % n                     # N, N-1, ..., 1, reload
        if m == 3:
            # Mode 3: CE decrements by two; odd counts load N-1 ("Mode 3 ...
            # Odd counts"), so each half period runs from N (or N-1) down to 2 (0).
            t %= n
            half = (n + 1) // 2
            if n & 1:
                return n - 1 - 2 * (t if t < half else t - half)
            return n - 2 * (t % (n // 2))
        # Modes 0, 1, 4, 5 wrap to FFFF (9999 in BCD) and keep counting
        # ("Operation Common to All Modes": the counter does not stop at zero).
        return (n - t) % self.modulus

    # -- programming: "Control Word Format" and "Write Operations" -----------
    def control(self, bits, now):
        """A control word for this counter (bits 5:0: RW1 RW0 M2 M1 M0 BCD)."""
        self.hold = self.value(now)
        self.edges_before = self.edges(now)
        self.ctrl = bits
        self.rw = (bits >> 4) & 3
        mode = (bits >> 1) & 7
        self.mode = mode - 4 if mode > 5 else mode      # X10 and X11 are modes 2 and 3
        self.bcd = bool(bits & 1)
        self.modulus = 10000 if self.bcd else 0x10000
        self.start = self.paused = self.prev = None
        self.cr = 0
        self.n = self.modulus
        self.has_count = False
        self.null = True
        # "When a Control Word is written to a Counter ... OUT goes to a known
        # initial state": low in mode 0, high in every other mode.
        self.out_idle = self.mode != 0
        self.w_hi = self.r_hi = False
        self.latch = self.status = None

    def write(self, byte, now):
        """A byte written to the counter's port."""
        rw = self.rw
        if rw == _RW_LSB:
            self.cr = byte
        elif rw == _RW_MSB:
            self.cr = byte << 8
        elif not self.w_hi:
            self.cr = (self.cr & 0xFF00) | byte
            self.w_hi = True
            if self.mode == 0 and self.start is not None:
                # Mode 0: "Writing the first byte disables counting. OUT is
                # set low immediately (no clock pulse required)."
                self.hold = self.value(now)
                self.edges_before = self.edges(now)
                self.start = self.paused = None
                self.out_idle = False
            return
        else:
            self.cr = (self.cr & 0x00FF) | (byte << 8)
            self.w_hi = False
        self._load(now)

    def _load(self, now):
        n = _bcd_decode(self.cr) if self.bcd else self.cr
        n = n or self.modulus                  # 0 is the largest count: 2^16 or 10^4
        self.null = True
        self.has_count = True
        m = self.mode
        if m in (1, 5):
            self.next_n = n                     # used at the next GATE trigger
            return
        if m in (2, 3) and self.start is not None and self.paused is None:
            if self.prev is None:
                t = now - self.start
                self.prev = (self.start, self.n)
                self.start += (t // self.n + 1) * self.n
            self.n = n
            return
        self.edges_before = self.edges(now)
        self.n = n
        self.null = False
        self.prev = None
        if m in (2, 3) and not self.gate:
            self.start = None                    # loaded, counting waits for GATE
            self.hold = n % self.modulus
            self.out_idle = True
            return
        self.start = now
        self.paused = None if self.gate or m in (2, 3) else 0

    def set_gate(self, level, now):
        """GATE input ("Gate" in "Operation Common to All Modes", Figure 17)."""
        level = bool(level)
        if level == self.gate:
            return
        self.gate = level
        m = self.mode
        if m in (0, 4):                          # GATE enables/disables counting
            if self.start is None:
                return
            if not level:
                self.paused = now - self.start
            elif self.paused is not None:
                self.start = now - self.paused
                self.paused = None
        elif m in (2, 3):                        # low: stop, OUT high; rising: reload
            if not level:
                if self.start is not None:
                    self.hold = self.value(now)
                    self.edges_before = self.edges(now)
                self.start = None
                self.prev = None
                self.out_idle = True
            elif self.has_count:
                self.edges_before = self.edges(now)
                self.start = now
        elif level and self.has_count:           # 1 and 5: a rising edge (re)triggers
            self.edges_before = self.edges(now)
            self.n = self.next_n
            self.start = now
            self.null = False

    # -- reading: "Read Operations", "Counter Latch Command", "Read-Back" ----
    def latch_count(self, now):
        if self.latch is None:                   # a second latch is ignored until read
            self.latch = self._encoded(now)
            self.latch_hi = False

    def latch_status(self, now):
        if self.status is None:
            self.status = ((STATUS_OUT if self.out(now) else 0) |
                           (STATUS_NULL if self._null(now) else 0) | self.ctrl)

    def _null(self, now):
        self._settle(now)
        return self.null or self.prev is not None

    def _encoded(self, now):
        v = self.value(now)
        return _bcd_encode(v % 10000) if self.bcd else v & 0xFFFF

    def read(self, now):
        """A byte read from the counter's port: a latched status first, then
        a latched count, else the live count, byte by byte per RW."""
        if self.status is not None:
            s, self.status = self.status, None
            return s
        rw = self.rw
        if self.latch is not None:
            v = self.latch
            if rw == _RW_WORD and not self.latch_hi:
                self.latch_hi = True
                return v & 0xFF
            self.latch = None
            return (v >> 8) & 0xFF if rw != _RW_LSB else v & 0xFF
        v = self._encoded(now)
        if rw == _RW_LSB:
            return v & 0xFF
        if rw == _RW_MSB:
            return (v >> 8) & 0xFF
        self.r_hi = not self.r_hi
        return v & 0xFF if self.r_hi else (v >> 8) & 0xFF
