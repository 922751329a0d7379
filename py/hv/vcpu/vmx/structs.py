# VMX memory structures the VMCS points at: the I/O bitmaps A and B (SDM 3C
# 25.6.4), the MSR bitmap (25.6.9) and the VM-exit MSR-store / VM-entry
# MSR-load areas (25.7.2, 25.8.2), each in frames from the allocator.
# A set bitmap bit makes the access exit. Runs on the port and on CPython.
import struct
from micropython import const
from hv.vcpu.pagerun import PageRun

IO_BITMAP_PAGES = const(2)          # A: ports 0-0x7FFF, B: 0x8000-0xFFFF
# MSR bitmap quarters (25.6.9): read low, read high, write low, write high;
# low = 0-0x1FFF, high = 0xC0000000-0xC0001FFF. Others always exit.
_MSR_READ_LOW, _MSR_READ_HIGH = 0x000, 0x400
_MSR_WRITE_OFFSET = const(0x800)
_MSR_HIGH_BASE = const(0xC0000000)
_MSR_RANGE = const(0x2000)
MSR_AREA_ENTRY = const(16)          # index (32), reserved (32), value (64)


def msr_bitmap_position(msr):
    """(byte offset, bit) of msr's read-intercept bit in the MSR bitmap (the
    write bit is _MSR_WRITE_OFFSET bytes later), or None: MSRs outside both
    ranges always exit (SDM 3C 26.1.3)."""
    if msr < _MSR_RANGE:
        base, n = _MSR_READ_LOW, msr
    elif _MSR_HIGH_BASE <= msr < _MSR_HIGH_BASE + _MSR_RANGE:
        base, n = _MSR_READ_HIGH, msr - _MSR_HIGH_BASE
    else:
        return None
    return base + (n >> 3), n & 7


class IoBitmaps(PageRun):
    """Bitmaps A and B back to back: port p is bit p of the pair."""

    def __init__(self, allocator):
        super().__init__(allocator, IO_BITMAP_PAGES, 0xFF, "VMX structure")

    @property
    def pa_b(self):
        return self.pa + 4096

    def set(self, port, count, on):
        if port < 0 or port + count > 0x10000:
            raise ValueError("ports %#x+%d outside 0-0xFFFF" % (port, count))
        for p in range(port, port + count):
            self.set_bit(p >> 3, p & 7, on)

    def intercepted(self, port):
        return self.get_bit(port >> 3, port & 7)


class MsrBitmap(PageRun):
    def __init__(self, allocator):
        super().__init__(allocator, 1, 0xFF, "VMX structure")

    def set(self, msr, read, write):
        pos = msr_bitmap_position(msr)
        if pos is None:
            if not (read and write):
                raise ValueError("MSR %#x is outside the MSR bitmap: always intercepted" % msr)
            return
        byte, bit = pos
        self.set_bit(byte, bit, read)
        self.set_bit(byte + _MSR_WRITE_OFFSET, bit, write)

    def intercepted(self, msr):
        """(read, write)"""
        pos = msr_bitmap_position(msr)
        if pos is None:
            return True, True
        return self.get_bit(pos[0], pos[1]), self.get_bit(pos[0] + _MSR_WRITE_OFFSET, pos[1])


class MsrAreas(PageRun):
    """Two MSR lists in one frame (SDM 3C 25.7.2, 25.8.2): the guest's at
    offset 0 (VM-entry load and VM-exit store both point here, so the guest
    values survive exits) and the host's at 2 KiB (VM-exit load)."""

    HOST_OFFSET = 0x800

    def __init__(self, allocator, msrs, host_values):
        super().__init__(allocator, 1, 0, "VMX structure")
        self.msrs = tuple(msrs)
        for i, m in enumerate(self.msrs):
            struct.pack_into("<IIQ", self.mem, i * MSR_AREA_ENTRY, m, 0, 0)
            struct.pack_into("<IIQ", self.mem, self.HOST_OFFSET + i * MSR_AREA_ENTRY,
                             m, 0, host_values[i])

    @property
    def count(self):
        return len(self.msrs)

    @property
    def guest_pa(self):
        return self.pa

    @property
    def host_pa(self):
        return self.pa + self.HOST_OFFSET

    def guest_value(self, msr):
        i = self.msrs.index(msr)
        return struct.unpack_from("<Q", self.mem, i * MSR_AREA_ENTRY + 8)[0]

    def set_guest_value(self, msr, value):
        i = self.msrs.index(msr)
        struct.pack_into("<Q", self.mem, i * MSR_AREA_ENTRY + 8, value)
