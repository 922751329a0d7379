# The last few exits of a vCPU, kept for the report of how its VM ended:
# eight preallocated slots in one buffer, written by the run loop with one
# call that allocates nothing (viper on the target, struct on CPython), and
# turned into exit tuples only when a report asks. Arch-neutral.
import struct
import sys
import micropython
from micropython import const

SIZE = const(8)                 # a power of two: the slot is n & (SIZE - 1)
_MASK = const(7)
_WORDS = const(6)               # per slot, 32-bit words: kind/width/a, value, rip
_COUNT = const(48)              # the word after the slots: exits recorded in all
# What a slot holds: a = port, MSR, hypercall number, guest-physical address
# (kind | width << 5 | a << 9).
IN = const(1)                   # value: what the guest read
OUT = const(2)                  # value: what it wrote
RDMSR = const(3)
WRMSR = const(4)
HYPERCALL = const(5)            # value: the result in RAX
OTHER = const(6)                # an exit the VMM saw as a record: its tuple is kept aside
MMIO_READ = const(7)            # a = the guest-physical address; value: what the guest read
MMIO_WRITE = const(8)           # value: what it wrote
_REASONS = (None, "IoRead", "IoWrite", "SysRegRead", "SysRegWrite", "Hypercall", None,
            "MmioRead", "MmioWrite")
_PENDING = const(1 << 4)        # kind flag: the handler has not answered yet

if sys.implementation.name == "micropython":
    @micropython.viper
    def _put(buf, kind_a: uint, value: uint, rip: uint):
        p = ptr32(buf)
        n = int(p[_COUNT])
        i = (n & _MASK) * _WORDS
        p[i] = kind_a
        p[i + 1] = kind_a >> 32
        p[i + 2] = value
        p[i + 3] = value >> 32
        p[i + 4] = rip
        p[i + 5] = rip >> 32
        p[_COUNT] = n + 1

    @micropython.viper
    def _settle(buf, value: uint):
        p = ptr32(buf)
        i = ((int(p[_COUNT]) - 1) & _MASK) * _WORDS
        p[i] = p[i] & ~_PENDING
        p[i + 2] = value
        p[i + 3] = value >> 32
else:
    def _put(buf, kind_a, value, rip):
        n = struct.unpack_from("<I", buf, _COUNT * 4)[0]
        struct.pack_into("<QQQ", buf, (n & _MASK) * _WORDS * 4, kind_a, value, rip)
        struct.pack_into("<I", buf, _COUNT * 4, n + 1)

    def _settle(buf, value):
        i = ((struct.unpack_from("<I", buf, _COUNT * 4)[0] - 1) & _MASK) * _WORDS * 4
        ka = struct.unpack_from("<Q", buf, i)[0]
        struct.pack_into("<QQ", buf, i, ka & ~_PENDING, value)


# The run loop's two calls, on a Ring's buf: put(buf, kind | PENDING? | width << 5
# | a << 9, value, rip) and settle(buf, value) for the slot put last.
put, settle = _put, _settle
PENDING = _PENDING
WIDTH_SHIFT = const(5)
A_SHIFT = const(9)


class Ring:
    def __init__(self):
        self.buf = bytearray((SIZE * _WORDS + 1) * 4)
        self._other = [None] * SIZE     # OTHER slots' exit tuples

    @property
    def count(self):
        return struct.unpack_from("<I", self.buf, _COUNT * 4)[0]

    def add(self, kind, a, width, value, rip):
        """One exit: kind (IN, OUT, ...), its port/MSR/number, access width in
        bytes, value, and the RIP of its instruction. None as the value:
        the handler has not answered yet (result() gives it)."""
        if value is None:
            kind, value = kind | _PENDING, 0
        _put(self.buf, kind | width << 5 | a << 9, value, rip)

    def result(self, value):
        """The value of the exit add() recorded last, once its handler gave it."""
        _settle(self.buf, value)

    def add_exit(self, e, rip):
        """An exit record the VMM saw (its fields copied as a tuple: cold path)."""
        self._other[self.count & _MASK] = e.as_tuple()
        _put(self.buf, OTHER, 0, rip)

    def clear(self):
        struct.pack_into("<I", self.buf, _COUNT * 4, 0)

    def wipe(self):
        """Zero every slot. MicroPython's GC scans a bytearray's bytes
        conservatively, and guest RIPs near 1 MiB look like pointers into the
        kernel's heap: a closed vCPU's ring must not keep other objects alive."""
        buf = self.buf
        for i in range(len(buf)):
            buf[i] = 0
        self._other = [None] * SIZE

    def entries(self):
        """Oldest first: (n, exit tuple, rip), n counting from 1."""
        out = []
        count = self.count
        for n in range(max(0, count - SIZE), count):
            ka, b, rip = struct.unpack_from("<QQQ", self.buf, (n & _MASK) * _WORDS * 4)
            k, width, a = ka & 0xF, ka >> 5 & 0xF, ka >> 9
            if k == OTHER:
                t = self._other[n & _MASK]
            elif k == IN or k == OUT or k == MMIO_READ or k == MMIO_WRITE:
                t = (_REASONS[k], a, width, b) if not ka & _PENDING else (_REASONS[k], a, width)
            elif k == HYPERCALL:
                t = ("Hypercall", a, () if ka & _PENDING else "-> %#x" % b)
            else:
                t = (_REASONS[k], a, b) if not ka & _PENDING else (_REASONS[k], a)
            out.append((n + 1, t, rip))
        return out
