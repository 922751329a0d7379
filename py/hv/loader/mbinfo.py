# The multiboot (v1) information structure a guest finds at EBX (Multiboot
# Specification 0.6.96, section 3.3): memory sizes and a memory map of the
# guest's RAM with the reserved areas a PC has, the command line, the boot
# loader's name and the module list. Pure: builds bytes at a guest address
# (hv.loader.mbplace picks it).
import struct
from micropython import const
from hv.loader.mbload import HIGH_RAM_START, INFO_BASE, LOW_RAM_END

_F_MEM = const(1 << 0)
_F_CMDLINE = const(1 << 2)
_F_MODS = const(1 << 3)
_F_MMAP = const(1 << 6)
_F_LOADER_NAME = const(1 << 9)
_INFO_SIZE = const(88)
AVAILABLE = const(1)             # memory map types (3.3)
RESERVED = const(2)


def memory_map(mem_size):
    """(base, length, type) entries of a PC with mem_size bytes of RAM: the
    EBDA at 639 KiB and the BIOS area 0xF0000-0xFFFFF are reserved."""
    entries = [(0, LOW_RAM_END, AVAILABLE), (LOW_RAM_END, 0xA0000 - LOW_RAM_END, RESERVED),
               (0xF0000, 0x10000, RESERVED)]
    if mem_size > HIGH_RAM_START:
        entries.append((HIGH_RAM_START, mem_size - HIGH_RAM_START, AVAILABLE))
    return entries


def build(mem_size, cmdline="", loader_name="mpvisor", modules=(), base=INFO_BASE):
    """bytes to write at guest-physical `base`: the info structure, then the
    memory map, the module list and the strings. modules are (start, end,
    string) already placed in guest RAM. Its length does not depend on
    base or the modules' addresses."""
    mmap = b"".join(struct.pack("<IQQI", 20, b, l, t) for b, l, t in memory_map(mem_size))
    mods_at = base + _INFO_SIZE + len(mmap)
    strings_at = mods_at + 16 * len(modules)
    strings = bytearray()

    def string(text):
        addr = strings_at + len(strings)
        strings.extend(text.encode() + b"\0")
        return addr

    cmdline_at = string(cmdline)
    loader_at = string(loader_name)
    mods = b"".join(struct.pack("<4I", start, end, string(text), 0) for start, end, text in modules)
    flags = _F_MEM | _F_CMDLINE | _F_MMAP | _F_LOADER_NAME | (_F_MODS if modules else 0)
    upper_kib = (min(mem_size, 1 << 32) - HIGH_RAM_START) // 1024 if mem_size > HIGH_RAM_START else 0
    info = bytearray(_INFO_SIZE)
    struct.pack_into("<7I", info, 0, flags, LOW_RAM_END // 1024, upper_kib, 0, cmdline_at,
                     len(modules), mods_at)
    struct.pack_into("<2I", info, 44, len(mmap), base + _INFO_SIZE)
    struct.pack_into("<I", info, 64, loader_at)
    return bytes(info) + mmap + mods + bytes(strings)
