# QEMU's firmware configuration device, I/O port interface (QEMU
# docs/specs/fw_cfg.rst): the 16-bit selector at 0x510, the 8-bit data port
# at 0x511, the signature, the feature ID (traditional interface, no DMA),
# RAM size, CPU counts and the file directory with etc/e820.
# Pure Python; the VMM passes in the RAM size, CPU count and memory map.
from micropython import const

SELECTOR = const(0x510)
DATA = const(0x511)
# "Selector Reg. Value Keys" (include/uapi/linux/qemu_fw_cfg.h).
SIGNATURE = const(0x00)
ID = const(0x01)
RAM_SIZE = const(0x03)
NB_CPUS = const(0x05)
MAX_CPUS = const(0x0F)
FILE_DIR = const(0x19)
FILE_FIRST = const(0x20)
_WRITE_CHANNEL = const(0x4000)   # bit 14: write mode; QEMU ignores data-port writes
ID_TRADITIONAL = const(0x01)     # FW_CFG_ID bit 0: the port interface; bit 1 (DMA) stays 0
E820_RAM = const(1)
E820_RESERVED = const(2)
E820_ACPI = const(3)
_NAME_LEN = const(56)            # FW_CFG_MAX_FILE_PATH, the NUL included


def _le(v, n):
    return v.to_bytes(n, "little")


def _be(v, n):
    return v.to_bytes(n, "big")


def e820_blob(entries):
    """etc/e820: packed little-endian {u64 address, u64 length, u32 type}."""
    return b"".join(_le(a, 8) + _le(n, 8) + _le(t, 4) for a, n, t in entries)


class FwCfg:
    """ram_size: guest RAM in bytes; e820: ((address, length, type), ...)
    as the guest's memory map. add_file(name, data) adds more files."""

    def __init__(self, ram_size, cpus=1, max_cpus=None, e820=()):
        self.ports = (SELECTOR, DATA)
        self.items = {
            SIGNATURE: b"QEMU",
            ID: _le(ID_TRADITIONAL, 4),
            RAM_SIZE: _le(ram_size, 8),
            NB_CPUS: _le(cpus, 2),
            MAX_CPUS: _le(max_cpus or cpus, 2),
        }
        self.files = []                  # (name, key), in directory order
        self.add_file("etc/e820", e820_blob(e820))
        self.select(SIGNATURE)

    def add_file(self, name, data):
        """A named item in the next file slot; returns its key."""
        raw = name.encode()
        if len(raw) >= _NAME_LEN:
            raise ValueError("fw_cfg: file name longer than %d bytes: %s" % (_NAME_LEN - 1, name))
        key = FILE_FIRST + len(self.files)
        self.items[key] = bytes(data)
        self.files.append((name, key))
        # "File Directory": be32 count, then {be32 size, be16 select, be16
        # reserved, char name[56]} per file, big-endian.
        d = bytearray(_be(len(self.files), 4))
        for n, k in self.files:
            nb = n.encode()
            d += _be(len(self.items[k]), 4) + _be(k, 2) + b"\0\0" + nb + bytes(_NAME_LEN - len(nb))
        self.items[FILE_DIR] = bytes(d)
        return key

    def select(self, key):
        """A selector write: the item (bit 14 is the write channel) at offset 0.
        An unknown key reads as zeros ("invalid selector")."""
        self._data = self.items.get(key & ~_WRITE_CHANNEL, b"")
        self._offset = 0

    def io_write(self, port, width, value):
        # QEMU's combined port (fw_cfg_comb_write): a 16-bit write selects,
        # a byte write is a data write, which QEMU ignores since v2.4.
        if width == 2:
            self.select(value & 0xFFFF)

    def io_read(self, port, width):
        if width != 1:
            return (1 << (8 * width)) - 1   # fw_cfg_comb_valid(): only byte reads are decoded
        o = self._offset
        if o >= len(self._data):
            return 0                        # past the end: zeros
        self._offset = o + 1
        return self._data[o]
