# A VM's guest-physical RAM: frames from its PhysFrameIf mapped by its nested
# page table on demand (4 KiB, or 2 MiB where the allocator has an aligned
# run), the zero-filling, unmapping, and the guest's bytes read, written and
# fetched across pages. The base of hv.vmm.vm.VM; bare metal and CPython.
import struct
from micropython import const
from hv.host.frame import OutOfFrames, out_of_frames
from hv.npt import paging

PAGE = const(0x1000)
_LARGE = const(0x200000)
_LARGE_FRAMES = const(512)


class GuestRam:
    """What VM.__init__ sets up for it: io, allocator, mem_size, npt,
    vcpus, _pages, _large, _owned, _split, large_faults, _read64."""

    def gpa_to_hpa(self, gpa):
        """Host-physical address backing gpa, or -1 when unmapped."""
        h = self._pages.get(gpa >> 12)
        if h is not None:
            return h | (gpa & 0xFFF)
        h = self._large.get(gpa >> 21)
        if h is not None:
            return h | (gpa & 0x1FFFFF)
        return -1

    def read_phys64(self, gpa):
        h = self.gpa_to_hpa(gpa)
        return self._read64(h) if h >= 0 else 0

    def map(self, gpa, hpa, size, perms="rwx"):
        """Map host memory the caller owns (the VM never frees it)."""
        self.npt.map(gpa, hpa, size, perms)
        self._note(gpa, hpa, size, False)

    def _note(self, gpa, hpa, size, owned):
        end = gpa + size
        while gpa < end:
            if not (gpa | hpa) & (_LARGE - 1) and end - gpa >= _LARGE:
                self._large[gpa >> 21] = hpa
                if owned:
                    self._owned.add(-(gpa >> 21) - 1)
                step = _LARGE
            else:
                self._pages[gpa >> 12] = hpa
                self._split.add(gpa >> 21)
                if owned:
                    self._owned.add(gpa >> 12)
                step = PAGE
            gpa += step
            hpa += step

    def map_ram(self, gpa, size):
        """Back the unmapped pages of [gpa, gpa+size), inside guest RAM, with
        fresh zeroed frames. OutOfFrames (a MemoryError) when the allocator
        cannot give them; then nothing this call mapped stays mapped."""
        end = gpa + size
        if gpa < 0 or gpa & (PAGE - 1) or size <= 0 or end > self.mem_size:
            raise ValueError("RAM %#x+%#x is not pages inside guest RAM (%#x bytes)"
                             % (gpa, size, self.mem_size))
        need = self.unbacked(gpa, end)
        a = self.allocator
        free = a.free_count() if hasattr(a, "free_count") else need
        if need > free:
            raise OutOfFrames("guest RAM %#x-%#x" % (gpa, end), need, free)
        done = []
        try:
            while gpa < end:
                if self.gpa_to_hpa(gpa) >= 0:
                    gpa += PAGE
                    continue
                step = PAGE
                hpa = None
                if not gpa & (_LARGE - 1) and end - gpa >= _LARGE and \
                        self.npt.translate(gpa, _LARGE) is None:
                    hpa = a.alloc_frames(_LARGE_FRAMES, _LARGE_FRAMES)
                    if hpa is not None:
                        step = _LARGE
                if hpa is None:
                    hpa = a.alloc_frame()
                    if hpa is None:
                        raise out_of_frames(a, "guest RAM page %#x" % gpa, 1)
                self._back(gpa, hpa, step)
                done.append((gpa, step))
                gpa += step
        except BaseException:
            for g, n in done:
                self.unmap(g, n)
            raise

    def fault_in(self, gpa, device_in=None):
        """Back the RAM page at gpa with a fresh zeroed frame and say True;
        False (nothing done) when gpa is outside guest RAM or already
        mapped. With large_faults, the whole 2 MiB block around it as one
        2 MiB page when none of the block is mapped yet, it lies inside
        guest RAM and the allocator has a 2 MiB-aligned run. Fewer, larger
        mappings keep the page dict (MicroPython heap) small for a guest such
        as Linux that touches most of its RAM. device_in(gpa, size): True
        if a device claims a page of that range (it never becomes RAM)."""
        page = gpa & ~(PAGE - 1)
        if page >= self.mem_size or self.gpa_to_hpa(page) >= 0:
            return False
        base = gpa & ~(_LARGE - 1)
        if self.large_faults and base + _LARGE <= self.mem_size and \
                (gpa >> 21) not in self._split and (gpa >> 21) not in self._large and \
                not (device_in is not None and device_in(base, _LARGE)):
            hpa = self.allocator.alloc_frames(_LARGE_FRAMES, _LARGE_FRAMES)
            if hpa is not None:
                self._back(base, hpa, _LARGE)
                return True
        hpa = self.allocator.alloc_frame()
        if hpa is None:
            raise out_of_frames(self.allocator, "guest RAM page %#x" % page, 1)
        self._back(page, hpa, PAGE)
        return True

    def unbacked(self, gpa, end):
        """Frames [gpa, end) (gpa page-aligned) still needs: its pages with
        no mapping yet."""
        n = 0
        while gpa < end:
            if gpa & (_LARGE - 1) == 0:
                b = gpa >> 21
                if b in self._large:
                    gpa += _LARGE
                    continue
                if b not in self._split and end - gpa >= _LARGE:
                    n += _LARGE_FRAMES          # no page of the block was ever mapped
                    gpa += _LARGE
                    continue
            if self.gpa_to_hpa(gpa) < 0:
                n += 1
            gpa += PAGE
        return n

    def _back(self, gpa, hpa, size):
        # Zero frames the VM now owns (a guest never sees a previous user's
        # data), then map them; frames go back if the tables cannot grow.
        try:
            self._zero(hpa, size)
            if size == PAGE:
                self.npt.map_page(gpa, hpa, paging.RWX)
            else:
                self.npt.map(gpa, hpa, size, paging.RWX)
        except BaseException:
            self.allocator.dealloc_frames(hpa, size // PAGE)
            raise
        self._note(gpa, hpa, size, True)

    def _zero(self, hpa, size):
        self.io.fill(hpa, size, 0)      # a native memset: 2 MiB in ~0.25 ms under QEMU TCG

    def unmap(self, gpa, size):
        """Remove [gpa, gpa+size) from the guest; frames the VM allocated go
        back to the allocator, and every vCPU flushes its TLB."""
        g = gpa & ~(_LARGE - 1)
        while g < gpa + size:               # a 2 MiB page cut in part: 512 pages
            h = self._large.get(g >> 21)
            if h is not None and (g < gpa or g + _LARGE > gpa + size):
                del self._large[g >> 21]
                owned = -(g >> 21) - 1 in self._owned
                self._owned.discard(-(g >> 21) - 1)
                self._split.add(g >> 21)
                for k in range(_LARGE_FRAMES):
                    self._pages[(g >> 12) + k] = h + k * PAGE
                    if owned:
                        self._owned.add((g >> 12) + k)
            g += _LARGE
        for g, hpa, psize in self.npt.unmap(gpa, size):
            key = g >> 12 if psize == PAGE else -(g >> 21) - 1
            (self._pages if psize == PAGE else self._large).pop(g >> (12 if psize == PAGE else 21))
            if key in self._owned:
                self._owned.discard(key)
                self.allocator.dealloc_frames(hpa, psize // PAGE)
        for c in self.vcpus:
            c.flush_tlb()

    def _chunks(self, gpa, n, create):
        # (offset into the data, hpa or -1, length) per guest page, or per
        # rest of a 2 MiB page (host-contiguous: one copy, not 512).
        off = 0
        while off < n:
            g = gpa + off
            k = min(n - off, PAGE - (g & 0xFFF))
            h = self.gpa_to_hpa(g)
            if h < 0 and create:
                if g >= self.mem_size:
                    raise ValueError("%#x is outside guest RAM and unmapped" % g)
                self.map_ram(g & ~(PAGE - 1), PAGE)
                h = self.gpa_to_hpa(g)
            elif h >= 0 and (g >> 21) not in self._split and (g >> 21) in self._large:
                k = min(n - off, _LARGE - (g & (_LARGE - 1)))
            yield off, h, k
            off += k

    def write(self, gpa, data):
        """Copy bytes into guest memory, backing RAM pages as needed."""
        mv = memoryview(data)
        for off, h, k in self._chunks(gpa, len(data), True):
            self.io.mem(h, k)[:] = mv[off:off + k]

    def read(self, gpa, n):
        """n bytes of guest memory; unmapped pages read as zeros."""
        out = bytearray(n)
        view = memoryview(out)
        for off, h, k in self._chunks(gpa, n, False):
            if h >= 0:
                view[off:off + k][:] = self.io.mem(h, k)   # a page's view: no tail moved
        return bytes(out)

    def fetch(self, gpa, linear, buf, next_gpa):
        """16 bytes of instruction at gpa into buf; the bytes past the page
        end come from next_gpa(linear of the next page). False if unmapped."""
        h = self.gpa_to_hpa(gpa)
        if h < 0:
            return False
        r32 = self.io.read32
        n = PAGE - (gpa & 0xFFF)
        if n >= 16:
            struct.pack_into("<4I", buf, 0, r32(h), r32(h + 4), r32(h + 8), r32(h + 12))
            return True
        r8 = self.io.read8
        for i in range(n):
            buf[i] = r8(h + i)
        g2 = next_gpa(linear + n)
        h2 = self.gpa_to_hpa(g2) if g2 >= 0 else -1
        if h2 < 0:
            return False
        for i in range(16 - n):
            buf[n + i] = r8(h2 + i)
        return True

    # -- loading a guest (hv.loader.kernel) -------------------------------------------
