# Channel 0 of the 8254 programmable interval timer (ports 0x40 and 0x43),
# emulated for a guest: the command word, lo/hi byte access, modes 0, 2 and
# 3, and counter latches, with time from a clock the VMM passes in
# (seconds). Its output drives IRQ 0 of the emulated PIC (8254 datasheet).
from micropython import const

PIT_HZ = const(1193182)
_CH0 = const(0x40)
_CMD = const(0x43)


class Pit:
    def __init__(self, clock):
        self.clock = clock
        self.ports = (_CH0, 0x41, 0x42, _CMD)
        self.mode = 0
        self.reload = 0          # 0 means 65536
        self.access = 3          # 1 lo, 2 hi, 3 lo then hi
        self._write_hi = False
        self._read_hi = False
        self._latched = None
        self.armed_at = None     # clock() when counting started
        self._fired = 0          # IRQ edges already reported since armed_at

    def period(self):
        return (self.reload or 0x10000) / PIT_HZ

    def io_write(self, port, width, value):
        value &= 0xFF
        if port == _CMD:
            if value >> 6 != 0:
                return           # channels 1, 2 and read-back: not emulated
            if (value >> 4) & 3 == 0:
                self._latched = self._count()   # counter latch command
                return
            self.access = (value >> 4) & 3
            self.mode = (value >> 1) & 7
            if self.mode > 5:
                self.mode -= 4   # 6 and 7 alias 2 and 3
            self._write_hi = self._read_hi = False
            self.armed_at = None
        elif port == _CH0:
            if self.access == 1 or (self.access == 3 and not self._write_hi):
                self.reload = (self.reload & 0xFF00) | value
                self._write_hi = self.access == 3
                if self.access == 3:
                    return
            else:
                self.reload = (self.reload & 0x00FF) | (value << 8)
                self._write_hi = False
            self.armed_at = self.clock()
            self._fired = 0

    def _count(self):
        if self.armed_at is None:
            return self.reload
        n = self.reload or 0x10000
        ticks = int((self.clock() - self.armed_at) * PIT_HZ)
        return max(n - ticks, 0) if self.mode == 0 else n - ticks % n

    def io_read(self, port, width):
        if port != _CH0:
            return 0xFF
        value = self._latched if self._latched is not None else self._count()
        if self.access == 2 or (self.access == 3 and self._read_hi):
            self._read_hi = False
            self._latched = None
            return (value >> 8) & 0xFF
        if self.access == 3:
            self._read_hi = True
        else:
            self._latched = None
        return value & 0xFF

    def due(self):
        """How many IRQ 0 edges have happened since the last call."""
        if self.armed_at is None:
            return 0
        elapsed = self.clock() - self.armed_at
        total = int(elapsed / self.period())
        if self.mode == 0:
            total = min(total, 1)   # one-shot: output goes high once
        new = total - self._fired
        self._fired = total
        return new

    def next_deadline(self):
        """clock() time of the next IRQ edge, or None when none will come."""
        if self.armed_at is None or (self.mode == 0 and self._fired):
            return None
        return self.armed_at + (self._fired + 1) * self.period()
