# The host's own 8254 channel 0 and IRQ 0, borrowed while a guest with an
# emulated timer runs: a rate generator (8254 mode 2) whose first edge is at
# the guest's next tick, so a guest that spins without exiting leaves with
# an ExternalInterrupt and the VMM can deliver the tick. Periodic, because
# an edge that comes while the host runs Python is taken by the host (and
# lost to the VMM): the next one still ends the spin. Bare-metal port (hw).
from micropython import const
from hv.vmm.devices.pit import PIT_HZ

_CH0 = const(0x40)
_CMD = const(0x43)
_MODE2_LOHI = const(0x34)       # channel 0, lo/hi byte, mode 2 (rate generator)
_MODE0_LOHI = const(0x30)       # mode 0: stops counting until a count is written
_PIC1_DATA = const(0x21)        # master 8259A mask register (OCW1)
_MIN_COUNT = const(60)          # ~50 us: an edge already due comes at once, not never
_MAX_COUNT = const(0xFFFF)      # ~55 ms: a later deadline takes more than one edge


class HostTimer:
    def __init__(self, io=None):
        if io is None:
            import hw as io
        self.io = io
        self._saved_mask = None

    def arm(self, seconds):
        """IRQ 0 in `seconds` (clamped to 50 us - 55 ms) and every as long
        after that; returns that period. Unmasks IRQ 0 on the host PIC
        until disarm()."""
        io = self.io
        count = min(max(int(seconds * PIT_HZ), _MIN_COUNT), _MAX_COUNT)
        io.outb(_CMD, _MODE2_LOHI)
        io.outb(_CH0, count & 0xFF)
        io.outb(_CH0, count >> 8)
        if self._saved_mask is None:
            self._saved_mask = io.inb(_PIC1_DATA)
            io.outb(_PIC1_DATA, self._saved_mask & 0xFE)
        return count / PIT_HZ

    def disarm(self):
        """The counter stopped and IRQ 0 masked again, as the host had it."""
        if self._saved_mask is not None:
            self.io.outb(_CMD, _MODE0_LOHI)
            self.io.outb(_PIC1_DATA, self._saved_mask)
            self._saved_mask = None
