# SVM permission maps: the I/O permission map (IOPM, APM2 15.10.1, 12 KiB)
# and the MSR permission map (MSRPM, 15.11, 8 KiB), each physically
# contiguous frames from the allocator. A set bit intercepts.
# Runs on the bare-metal port and on CPython (host tests).
from micropython import const
from hv.vcpu.pagerun import PageRun

IOPM_PAGES = const(3)
MSRPM_PAGES = const(2)
# MSRPM ranges (APM2 Table 15-5): first MSR, byte offset; 2 bits per MSR.
_MSR_RANGES = ((0x00000000, 0x000), (0xC0000000, 0x800), (0xC0010000, 0x1000))
_MSRS_PER_RANGE = const(0x2000)


def msrpm_position(msr):
    """(byte offset, bit of the read intercept; the write bit is the next
    one) of msr in the MSRPM, or None: MSRs outside the three ranges are
    always intercepted (15.11)."""
    for first, offset in _MSR_RANGES:
        if first <= msr < first + _MSRS_PER_RANGE:
            n = (msr - first) * 2
            return offset + (n >> 3), n & 7
    return None


def iopm_position(port):
    """(byte offset, bit) of an I/O port in the IOPM (15.10.1)."""
    return port >> 3, port & 7


class Iopm(PageRun):
    def __init__(self, allocator):
        super().__init__(allocator, IOPM_PAGES, 0xFF, "permission map")

    def set(self, port, count, on):
        for p in range(port, port + count):
            self.set_bit(*iopm_position(p), on)

    def intercepted(self, port):
        return self.get_bit(*iopm_position(port))


class Msrpm(PageRun):
    def __init__(self, allocator):
        super().__init__(allocator, MSRPM_PAGES, 0xFF, "permission map")

    def set(self, msr, read, write):
        pos = msrpm_position(msr)
        if pos is None:
            if not (read and write):
                raise ValueError("MSR %#x is outside the MSRPM: always intercepted" % msr)
            return
        byte, bit = pos
        self.set_bit(byte, bit, read)
        self.set_bit(byte, bit + 1, write)

    def intercepted(self, msr):
        """(read, write)"""
        pos = msrpm_position(msr)
        if pos is None:
            return True, True
        return self.get_bit(pos[0], pos[1]), self.get_bit(pos[0], pos[1] + 1)
