# The bitmap frame allocator behind hv.frames (x86_vcpu's PhysFrameIf over
# the RAM the multiboot memory map calls available, minus the kernel and the
# boot loader's structures). Runs as MicroPython in the bare-metal hypervisor
# and on CPython for host tests; touches RAM only through `mapper`.
from micropython import const
from hv.host.bitmap import Bitmap, merge_ranges, subtract_ranges
from hv.host.frame import PAGE_SHIFT, FrameError, PhysFrameIf, _hex

_PAGE_MASK = const(0xFFF)
# Real-mode IVT, BDA, EBDA, VGA and BIOS ROM live below 1 MiB; never managed.
LOW_MEM_END = const(0x100000)
# Multiboot memory map entry type 1 = available RAM (Multiboot 0.6.96 3.3).
_MB_AVAILABLE = const(1)


def _inward(usable):
    # (base, length) byte ranges -> frame ranges, partial frames dropped.
    out = []
    for base, length in usable:
        if base < 0 or length < 0:
            raise FrameError("bad RAM range %s+%s" % (_hex(base), _hex(length)))
        s = (base + _PAGE_MASK) >> PAGE_SHIFT
        e = (base + length) >> PAGE_SHIFT
        if s < e:
            out.append((s, e))
    return out


def _outward(reserved):
    # (start, end) byte ranges, end exclusive -> frame ranges covering them.
    out = []
    for start, end in reserved:
        if start < 0 or end < start:
            raise FrameError("bad reserved range %s-%s" % (_hex(start), _hex(end)))
        s = start >> PAGE_SHIFT
        e = (end + _PAGE_MASK) >> PAGE_SHIFT
        if s < e:
            out.append((s, e))
    return out


class BitmapFrameAllocator(PhysFrameIf):
    """One bit per frame from the lowest to the highest managed frame.

    _used: 1 = allocated or not managed (holes, reserved), so scans for a
    free frame never land outside RAM. _managed: 1 = usable RAM we own, so
    freeing a hole or a reserved frame is caught instead of creating RAM.
    """

    def __init__(self, usable, reserved, mapper):
        ranges = subtract_ranges(merge_ranges(_inward(usable)), merge_ranges(_outward(reserved)))
        lo = ranges[0][0] if ranges else 0
        n = ranges[-1][1] - lo if ranges else 0
        self._mapper = mapper
        self._ranges = ranges
        self._lo = lo
        self._n = n
        self._used = Bitmap(n, 1)
        self._managed = Bitmap(n, 0)
        total = 0
        for s, e in ranges:
            self._used.clear_range(s - lo, e - lo)
            self._managed.set_range(s - lo, e - lo)
            total += e - s
        self._total = total
        self._free = total
        self._hint = 0

    @classmethod
    def from_memory_map(cls, entries, reserved, limit, mapper):
        """entries: multiboot (base, length, type). Type 1 RAM clipped to
        [1 MiB, limit) is managed; every other type is also treated as
        reserved, so a firmware map with overlapping entries errs safe."""
        usable = []
        reserved = list(reserved)
        for base, length, kind in entries:
            if kind != _MB_AVAILABLE:
                reserved.append((base, base + length))
                continue
            s = base if base > LOW_MEM_END else LOW_MEM_END
            e = base + length if base + length < limit else limit
            if s < e:
                usable.append((s, e - s))
        return cls(usable, reserved, mapper)

    # -- checks: raise FrameError before any state changes ---------------

    def _index(self, paddr):
        # Bitmap index of an aligned, managed frame address.
        if not isinstance(paddr, int):
            raise FrameError("frame address must be an int, not %r" % (paddr,))
        if paddr & _PAGE_MASK:
            raise FrameError("unaligned frame address " + _hex(paddr))
        i = (paddr >> PAGE_SHIFT) - self._lo
        if i < 0 or i >= self._n or not self._managed.get(i):
            raise FrameError(_hex(paddr) + " is not managed RAM")
        return i

    def _check_managed(self, paddr, size):
        if not isinstance(paddr, int) or not isinstance(size, int):
            raise FrameError("address and size must be ints")
        if size <= 0:
            raise FrameError("size %d at %s must be > 0" % (size, _hex(paddr)))
        i = (paddr >> PAGE_SHIFT) - self._lo
        j = ((paddr + size - 1) >> PAGE_SHIFT) - self._lo + 1
        if paddr < 0 or i < 0 or j > self._n or self._managed.find_last(i, j, 0) >= 0:
            raise FrameError("%s+%s is not managed RAM" % (_hex(paddr), _hex(size)))

    @staticmethod
    def _check_count(count, paddr=None):
        if not isinstance(count, int) or count <= 0:
            where = "" if paddr is None else " at " + _hex(paddr)
            raise FrameError("frame count %r%s must be a positive int" % (count, where))

    # -- PhysFrameIf ------------------------------------------------------

    def alloc_frame(self):
        if not self._free:
            return None
        i = self._used.take_clear(self._hint)
        self._free -= 1
        self._hint = i
        return (self._lo + i) << PAGE_SHIFT

    def dealloc_frame(self, paddr):
        i = self._index(paddr)
        if not self._used.get(i):
            raise FrameError("frame %s is already free (double free?)" % _hex(paddr))
        self._used.clear(i)
        self._free += 1
        self._hint = i

    def alloc_frames(self, count, align=1):
        self._check_count(count)
        if not isinstance(align, int) or align <= 0:
            raise FrameError("alignment %r must be a positive frame count" % (align,))
        if count > self._free:
            return None
        if count == 1 and align == 1:
            return self.alloc_frame()
        # Next fit: runs starting at or after the hint, then before it.
        i = self._find_run(self._hint, self._n, count, align)
        if i < 0:
            i = self._find_run(0, self._hint, count, align)
            if i < 0:
                return None
        self._used.set_range(i, i + count)
        self._free -= count
        self._hint = i + count - 1
        return (self._lo + i) << PAGE_SHIFT

    def _find_run(self, start, stop, count, align):
        # First i in [start, stop) with (lo + i) % align == 0 and bits
        # [i, i + count) all clear; each failure skips past the last set
        # bit in the window, so one search is linear in the bitmap.
        lo = self._lo
        n = self._n
        find_last = self._used.find_last
        i = start + (-(lo + start)) % align
        while i < stop and i + count <= n:
            j = find_last(i, i + count, 1)
            if j < 0:
                return i
            j += 1
            i = j + (-(lo + j)) % align
        return -1

    def dealloc_frames(self, paddr, count):
        self._check_count(count, paddr)
        i = self._index(paddr)
        j = i + count
        if j > self._n or self._managed.find_last(i, j, 0) >= 0:
            raise FrameError("run %s + %d frames leaves managed RAM" % (_hex(paddr), count))
        k = self._used.find_last(i, j, 0)
        if k >= 0:
            raise FrameError("frame %s in run %s + %d frames is already free"
                             % (_hex((self._lo + k) << PAGE_SHIFT), _hex(paddr), count))
        self._used.clear_range(i, j)
        self._free += count
        self._hint = i

    def phys_to_virt(self, paddr):
        # Identity map: the check is the whole job.
        self._check_managed(paddr, 1)
        return paddr

    def mem(self, paddr, size):
        # The mapper (hw.mem on target) takes the address phys_to_virt gives.
        self._check_managed(paddr, size)
        return self._mapper(self.phys_to_virt(paddr), size)

    # -- reporting --------------------------------------------------------

    def free_count(self):
        return self._free

    def total_count(self):
        return self._total

    def managed_ranges(self):
        """Sorted, disjoint (start, end) byte ranges of managed RAM."""
        return [(s << PAGE_SHIFT, e << PAGE_SHIFT) for s, e in self._ranges]

    def check(self):
        """Recount the bitmap; raise FrameError if the free count drifted."""
        if self._used.count_clear() != self._free:
            raise FrameError("free count %d != bitmap %d" % (self._free, self._used.count_clear()))

    def stats(self):
        lines = [
            "frames: %d free, %d used, %d managed (%s MiB)"
            % (self._free, self._total - self._free, self._total, _mib(self._total)),
            "span: %s-%s, %d frames, 2 bitmaps of %d bytes"
            % (_hex(self._lo << PAGE_SHIFT), _hex((self._lo + self._n) << PAGE_SHIFT),
               self._n, self._used.nbytes),
            "ranges: %d" % len(self._ranges),
        ]
        for s, e in self.managed_ranges():
            lines.append("  %s-%s %s MiB" % (_hex(s), _hex(e), _mib((e - s) >> PAGE_SHIFT)))
        return "\n".join(lines)

    def __repr__(self):
        return "<BitmapFrameAllocator %d/%d frames free, %s MiB managed>" % (
            self._free, self._total, _mib(self._total))


def _mib(frames):
    # Frames as MiB to one decimal, rounded, in integer arithmetic.
    t = (frames * 10 + 128) >> 8
    return "%d.%d" % (t // 10, t % 10)
