# The multiboot v1 information structure (Multiboot Specification 0.6.96,
# section 3.3), read from physical memory. Pure parsing: runs on the bare-metal
# port (with hw.mem) and on CPython in host tests (with a fake reader).
import struct
from micropython import const

_FLAG_MEM = const(1 << 0)
_FLAG_CMDLINE = const(1 << 2)
_FLAG_MODS = const(1 << 3)
_FLAG_MMAP = const(1 << 6)
_FLAG_LOADER_NAME = const(1 << 9)
_INFO_SIZE = const(88)
_MODULE_SIZE = const(16)

# Memory map entry types (section 3.3, "mmap_*").
AVAILABLE = const(1)
RESERVED = const(2)
ACPI_RECLAIMABLE = const(3)
ACPI_NVS = const(4)
BAD_RAM = const(5)
TYPE_NAMES = {AVAILABLE: "available", RESERVED: "reserved",
              ACPI_RECLAIMABLE: "ACPI reclaimable", ACPI_NVS: "ACPI NVS", BAD_RAM: "bad RAM"}


class Module:
    """A boot module: physical [start, end) and its command line."""

    def __init__(self, start, end, cmdline):
        self.start = start
        self.end = end
        self.cmdline = cmdline

    @property
    def name(self):
        return self.cmdline.split(" ")[0] if self.cmdline else ""

    def __repr__(self):
        return f"<Module {self.cmdline!r} 0x{self.start:x}-0x{self.end:x}>"


class BootInfo:
    """Parsed multiboot information. read(paddr, n) returns n bytes."""

    def __init__(self, addr, read):
        self.addr = addr
        self._read = read
        self.used = [(addr, addr + _INFO_SIZE)]  # physical ranges the loader filled
        (self.flags, self.mem_lower, self.mem_upper, _, cmdline, mods_count,
         mods_addr) = struct.unpack_from("<7I", read(addr, 28))
        mmap_length, mmap_addr = struct.unpack_from("<2I", read(addr + 44, 8))
        loader = struct.unpack_from("<I", read(addr + 64, 4))[0]
        self.cmdline = self._string(cmdline) if self.flags & _FLAG_CMDLINE else ""
        self.loader_name = self._string(loader) if self.flags & _FLAG_LOADER_NAME else ""
        self.memory_map = self._memory_map(mmap_addr, mmap_length)
        self.modules = self._modules(mods_addr, mods_count) if self.flags & _FLAG_MODS else []

    def _string(self, addr):
        out = b""
        while True:
            chunk = bytes(self._read(addr + len(out), 64))
            nul = chunk.find(b"\0")
            if nul >= 0:
                out += chunk[:nul]
                break
            out += chunk
        self.used.append((addr, addr + len(out) + 1))
        return out.decode()

    def _memory_map(self, addr, length):
        if not self.flags & _FLAG_MMAP:
            if self.flags & _FLAG_MEM:  # only the two sizes are known
                return [(0, self.mem_lower * 1024, AVAILABLE),
                        (0x100000, self.mem_upper * 1024, AVAILABLE)]
            return []
        self.used.append((addr, addr + length))
        raw = bytes(self._read(addr, length))
        entries = []
        pos = 0
        while pos + 24 <= length:
            size, base, size_bytes, kind = struct.unpack_from("<IQQI", raw, pos)
            entries.append((base, size_bytes, kind))
            pos += size + 4  # "size" does not count itself
        return entries

    def _modules(self, addr, count):
        self.used.append((addr, addr + count * _MODULE_SIZE))
        mods = []
        for i in range(count):
            start, end, string, _ = struct.unpack("<4I", self._read(addr + i * _MODULE_SIZE, 16))
            mods.append(Module(start, end, self._string(string) if string else ""))
            self.used.append((start, end))
        return mods

    def module(self, name):
        """The module whose command line starts with name (its path), or None."""
        for m in self.modules:
            if m.name == name or m.name.split("/")[-1] == name:
                return m
        return None


def format_memory_map(entries):
    lines = []
    for base, length, kind in entries:
        lines.append(f"  0x{base:012x}-0x{base + length - 1:012x} "
                     f"{TYPE_NAMES.get(kind, 'type %d' % kind):16} {length >> 10} KiB")
    return "\n".join(lines)


_info = None


def info():
    """The BootInfo this kernel was started with (parsed once)."""
    global _info
    if _info is None:
        import hw
        _info = BootInfo(hw.mbi_addr(), hw.mem)
    return _info
