# Physical frame allocation: x86_vcpu's PhysFrameIf, its errors, the default
# allocator and PhysFrame (one owned, zeroed 4 KiB frame); the bitmap
# allocator behind hv.frames is hv.host.allocator. Runs as MicroPython in the
# bare-metal hypervisor (VMX/SVM root, identity mapped) and on CPython.

from micropython import const
from hv.host.bitmap import fill_bytes

PAGE_SIZE = const(4096)
PAGE_SHIFT = const(12)

_ZERO_PAGE = bytes(PAGE_SIZE)


def _hex(a):
    return "-0x%x" % -a if a < 0 else "0x%x" % a


class FrameError(ValueError):
    pass


class OutOfFrames(MemoryError):
    """Not enough free frames for `what`: `needed` frames, `free` left."""

    def __init__(self, what, needed, free):
        super().__init__("out of physical frames for %s: needs %d, %s free"
                         % (what, needed, "?" if free is None else free))
        self.what, self.needed, self.free = what, needed, free


def out_of_frames(allocator, what, needed):
    """OutOfFrames for `what`, with the allocator's free count if it has one."""
    count = getattr(allocator, "free_count", None)
    return OutOfFrames(what, needed, count() if count is not None else None)


class PhysFrameIf:
    """Interface the vCPU code allocates its VMCS/VMCB, bitmaps and page
    tables through (x86_vcpu's PhysFrameIf). Addresses are 4 KiB aligned."""

    def alloc_frame(self):
        raise NotImplementedError

    def dealloc_frame(self, paddr):
        raise NotImplementedError

    def phys_to_virt(self, paddr):
        raise NotImplementedError

    def alloc_frames(self, count, align=1):
        raise NotImplementedError

    def dealloc_frames(self, paddr, count):
        raise NotImplementedError

    def mem(self, paddr, size):
        raise NotImplementedError


_default = None


def set_default_allocator(a):
    global _default
    _default = a


def default_allocator():
    if _default is None:
        raise FrameError("no frame allocator installed")
    return _default


class PhysFrame:
    """One owned 4 KiB frame, released exactly once by close() (or `with`)."""

    def __init__(self, allocator, paddr):
        self._allocator = allocator
        self.start_paddr = paddr
        self._mem = allocator.mem(paddr, PAGE_SIZE)

    @classmethod
    def alloc_uninit(cls, allocator=None):
        a = default_allocator() if allocator is None else allocator
        paddr = a.alloc_frame()
        if paddr is None:
            raise out_of_frames(a, "a page", 1)
        try:
            return cls(a, paddr)
        except Exception:
            a.dealloc_frame(paddr)
            raise

    @classmethod
    def alloc(cls, allocator=None):
        f = cls.alloc_uninit(allocator)
        f._mem[:] = _ZERO_PAGE
        return f

    @property
    def mem(self):
        if self._mem is None:
            raise FrameError("frame %s used after close" % _hex(self.start_paddr))
        return self._mem

    @property
    def closed(self):
        return self._mem is None

    def fill(self, byte):
        # Zero is one copy from a shared zero page; any other byte doubles
        # in place (12 slice copies), never a per-byte Python loop.
        if not 0 <= byte <= 0xFF:
            raise ValueError("fill byte %r out of range" % (byte,))
        if byte:
            fill_bytes(self.mem, 0, PAGE_SIZE, byte)
        else:
            self.mem[:] = _ZERO_PAGE

    def close(self):
        if self._mem is None:
            return
        self._mem = None
        self._allocator.dealloc_frame(self.start_paddr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "<PhysFrame %s%s>" % (_hex(self.start_paddr), " closed" if self._mem is None else "")
