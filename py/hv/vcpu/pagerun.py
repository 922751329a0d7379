# Physically contiguous frames that a control structure points at, with a
# byte view and bit access: SVM's IOPM and MSRPM (hv.vcpu.svm.structs), VMX's
# I/O and MSR bitmaps and MSR areas (hv.vcpu.vmx.structs). Bare metal and
# CPython (host tests).
from hv.host.frame import out_of_frames


class PageRun:
    """`pages` frames from allocator, every byte `fill` (0xFF: intercept
    all); pa, mem (a writable view of all of them); what names it in the
    OutOfFrames message."""

    def __init__(self, allocator, pages, fill, what):
        self._allocator = allocator
        self.pages = pages
        self.pa = allocator.alloc_frames(pages)
        if self.pa is None:
            raise out_of_frames(allocator, "a %d-page %s (contiguous)" % (pages, what), pages)
        self.mem = allocator.mem(self.pa, pages * 4096)
        self.mem[:] = bytes((fill,)) * (pages * 4096)

    def set_bit(self, byte, bit, on):
        if on:
            self.mem[byte] |= 1 << bit
        else:
            self.mem[byte] &= ~(1 << bit) & 0xFF

    def get_bit(self, byte, bit):
        return bool(self.mem[byte] >> bit & 1)

    def close(self):
        if self.pa is not None:
            self._allocator.dealloc_frames(self.pa, self.pages)
            self.pa = self.mem = None
