# CPython stand-ins for viper's pointer casts (ptr8/ptr16/ptr32) and uint,
# over a fake physical memory the host tests install with use(). Imported
# only on CPython: on the target these names are viper intrinsics.
MASK64 = (1 << 64) - 1
_memory = None


def use(memory):
    """memory: read(addr, n) -> bytes and write(addr, data)."""
    global _memory
    _memory = memory


def uint(x):
    return x & MASK64


class _Ptr:
    """Index i reads/writes size bytes at base + i * size: base is a physical
    address, or an object with the buffer protocol (its own bytes)."""
    size = 1

    def __init__(self, base):
        self.base = base

    def __getitem__(self, i):
        if isinstance(self.base, int):
            data = _memory.read(self.base + i * self.size, self.size)
        else:
            data = memoryview(self.base).cast("B")[i * self.size:(i + 1) * self.size]
        return int.from_bytes(data, "little")

    def __setitem__(self, i, v):
        data = (v & ((1 << (8 * self.size)) - 1)).to_bytes(self.size, "little")
        if isinstance(self.base, int):
            _memory.write(self.base + i * self.size, data)
        else:
            memoryview(self.base).cast("B")[i * self.size:(i + 1) * self.size] = data


class ptr8(_Ptr):
    size = 1


class ptr16(_Ptr):
    size = 2


class ptr32(_Ptr):
    size = 4
