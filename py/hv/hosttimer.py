# The host's own 8254 channel 0 and IRQ 0, borrowed while a guest with an
# emulated timer runs: set one-shot (8254 mode 0) for the guest's next tick,
# its IRQ 0 makes a guest that spins without exiting leave with an
# ExternalInterrupt, so the VMM can deliver the tick. Bare-metal port (hw).
from micropython import const
from hv.devices.pit import PIT_HZ

_CH0 = const(0x40)
_CMD = const(0x43)
_MODE0_LOHI = const(0x30)       # channel 0, lo/hi byte, mode 0 (interrupt on terminal count)
_PIC1_DATA = const(0x21)        # master 8259A mask register (OCW1)
_MIN_COUNT = const(60)          # ~50 us: an edge already due fires at once, not never
_MAX_COUNT = const(0xFFFF)      # ~55 ms: further deadlines take a second shot


class HostTimer:
    def __init__(self, io=None):
        if io is None:
            import hw as io
        self.io = io
        self._saved_mask = None

    def arm(self, seconds):
        """IRQ 0 in `seconds` (clamped to 50 us - 55 ms); returns the delay
        actually set. Unmasks IRQ 0 on the host PIC until disarm()."""
        io = self.io
        count = min(max(int(seconds * PIT_HZ), _MIN_COUNT), _MAX_COUNT)
        io.outb(_CMD, _MODE0_LOHI)
        io.outb(_CH0, count & 0xFF)
        io.outb(_CH0, count >> 8)
        if self._saved_mask is None:
            self._saved_mask = io.inb(_PIC1_DATA)
            io.outb(_PIC1_DATA, self._saved_mask & 0xFE)
        return count / PIT_HZ

    def disarm(self):
        """IRQ 0 masked again, as the host had it."""
        if self._saved_mask is not None:
            self.io.outb(_PIC1_DATA, self._saved_mask)
            self._saved_mask = None
