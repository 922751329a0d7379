# Loading a multiboot (v1) kernel into a guest, as a multiboot loader would
# (Multiboot Specification 0.6.96, sections 3.1-3.3): find and check the
# header, take the a.out-kludge address fields or the ELF32/ELF64 program
# headers, and build the information structure the guest gets in EBX.
# Pure: works on bytes, runs on the bare-metal port and on CPython.
import struct
from micropython import const

MAGIC = const(0x1BADB002)
BOOTLOADER_MAGIC = const(0x2BADB002)  # EAX at entry (3.2)
_SEARCH = const(8192)                  # the header lies in the first 8 KiB
_F_PAGE_ALIGN = const(1 << 0)
_F_MEMORY_INFO = const(1 << 1)
_F_VIDEO = const(1 << 2)
_F_ADDRESSES = const(1 << 16)
_UNDERSTOOD = const(_F_PAGE_ALIGN | _F_MEMORY_INFO)  # required bits we honour
_EM_386 = const(3)
_EM_X86_64 = const(62)
_PT_LOAD = const(1)

# Guest-physical layout a PC has (3.3 memory map) and where the info goes.
LOW_RAM_END = const(0x9FC00)           # 639 KiB of conventional memory
HIGH_RAM_START = const(0x100000)
INFO_BASE = const(0x8000)              # the info structure's first choice (hv.loader.mbplace)


class ImageError(ValueError):
    """The kernel image cannot be loaded; the message names the problem."""


class Plan:
    """What to put in guest RAM and how to start: `segments` are
    (gpa, bytes, memsz) with memsz - len(bytes) zero bytes after the data;
    start in 32-bit protected mode at `entry` with EAX = BOOTLOADER_MAGIC
    and EBX = `info_gpa`; `info` is (gpa, bytes) blobs to write and
    `modules` (mod_start, mod_end, cmdline) where each module goes (both
    filled in by hv.loader.mbplace.place)."""

    def __init__(self, kind, segments, entry):
        self.kind = kind
        self.segments = segments
        self.entry = entry
        self.info_gpa = None
        self.info = []
        self.modules = []

    def __repr__(self):
        return "<multiboot %s kernel, %d segments, entry 0x%x>" % (self.kind, len(self.segments), self.entry)


def find_header(image):
    """(offset, flags, header words) of the multiboot header; ImageError if
    there is none or its checksum is wrong."""
    n = min(len(image), _SEARCH)
    for off in range(0, n - 11, 4):
        if struct.unpack_from("<I", image, off)[0] == MAGIC:
            magic, flags, checksum = struct.unpack_from("<3I", image, off)
            if (magic + flags + checksum) & 0xFFFFFFFF:
                raise ImageError("multiboot header at offset 0x%x has a bad checksum "
                                 "(magic + flags + checksum = 0x%x, must be 0)"
                                 % (off, (magic + flags + checksum) & 0xFFFFFFFF))
            return off, flags
    raise ImageError("no multiboot header (magic 0x1BADB002) in the first %d bytes" % _SEARCH)


def _check_flags(flags):
    if flags & _F_VIDEO:
        raise ImageError("the kernel requires a video mode (flag bit 2); guests have a serial console only")
    unknown = flags & 0xFFFF & ~_UNDERSTOOD & ~_F_VIDEO
    if unknown:
        raise ImageError("the kernel requires features this loader does not know (flags 0x%x)" % unknown)


def _aout_plan(image, off):
    if off + 32 > len(image):
        raise ImageError("multiboot header address fields are truncated")
    header_addr, load_addr, load_end, bss_end, entry = struct.unpack_from("<5I", image, off + 12)
    if load_addr > header_addr:
        raise ImageError("load_addr 0x%x is above header_addr 0x%x" % (load_addr, header_addr))
    start = off - (header_addr - load_addr)       # file offset of load_addr (3.1.4)
    if start < 0:
        raise ImageError("header_addr - load_addr points before the start of the file")
    size = (load_end - load_addr) if load_end else len(image) - start
    if load_end and load_end < load_addr:
        raise ImageError("load_end_addr 0x%x is below load_addr 0x%x" % (load_end, load_addr))
    if start + size > len(image):
        raise ImageError("the file is truncated: %d bytes to load from offset 0x%x, %d in the file"
                         % (size, start, len(image) - start))
    memsz = (bss_end - load_addr) if bss_end else size
    if memsz < size:
        raise ImageError("bss_end_addr 0x%x is below the end of the loaded data" % bss_end)
    return Plan("a.out-kludge", [(load_addr, bytes(image[start:start + size]), memsz)], entry)


def _elf_plan(image):
    if len(image) < 52 or bytes(image[:4]) != b"\x7fELF":
        raise ImageError("not an ELF file and no address fields in the multiboot header (flag bit 16)")
    cls, data = image[4], image[5]
    if data != 1:
        raise ImageError("ELF file is not little-endian")
    if cls == 1:
        kind, fmt, machine_ok = "ELF32", "<HHIIIIIHHHHHH", _EM_386
        ph_fmt, ph_fields = "<8I", (0, 1, 3, 4, 5)   # type, offset, paddr, filesz, memsz
    elif cls == 2:
        kind, fmt, machine_ok = "ELF64", "<HHIQQQIHHHHHH", _EM_X86_64
        ph_fmt, ph_fields = "<IIQQQQQQ", (0, 2, 4, 5, 6)
    else:
        raise ImageError("ELF class %d is neither ELF32 nor ELF64" % cls)
    hdr = struct.unpack_from(fmt, image, 16)
    machine, entry, phoff, phentsize, phnum = hdr[1], hdr[3], hdr[4], hdr[8], hdr[9]
    if machine != machine_ok:
        raise ImageError("%s file is for machine %d, not x86" % (kind, machine))
    if phoff + phnum * phentsize > len(image):
        raise ImageError("the file is truncated: program headers end past its end")
    segments = []
    for i in range(phnum):
        ph = struct.unpack_from(ph_fmt, image, phoff + i * phentsize)
        p_type, p_offset, p_paddr, p_filesz, p_memsz = [ph[k] for k in ph_fields]
        if p_type != _PT_LOAD or p_memsz == 0:
            continue
        if p_offset + p_filesz > len(image):
            raise ImageError("the file is truncated: segment %d needs bytes up to 0x%x, the file has 0x%x"
                             % (i, p_offset + p_filesz, len(image)))
        if p_filesz > p_memsz:
            raise ImageError("segment %d has filesz 0x%x larger than memsz 0x%x" % (i, p_filesz, p_memsz))
        segments.append((p_paddr, bytes(image[p_offset:p_offset + p_filesz]), p_memsz))
    if not segments:
        raise ImageError("%s file has no loadable segment" % kind)
    return Plan(kind, segments, entry)


def plan(image, mem_size):
    """Check a kernel image and say how to load it into a guest with RAM
    [0, mem_size). ImageError names what is wrong."""
    off, flags = find_header(image)
    _check_flags(flags)
    p = _aout_plan(image, off) if flags & _F_ADDRESSES else _elf_plan(image)
    for gpa, data, memsz in p.segments:
        if gpa < HIGH_RAM_START and gpa + memsz > LOW_RAM_END:
            raise ImageError("segment at 0x%x-0x%x overlaps the PC's reserved area 0x9FC00-0xFFFFF"
                             % (gpa, gpa + memsz))
        if gpa + memsz > mem_size:
            raise ImageError("segment at 0x%x-0x%x lies outside guest RAM (0x%x bytes)"
                             % (gpa, gpa + memsz, mem_size))
    if p.entry >= 1 << 32 or not any(g <= p.entry < g + m for g, _, m in p.segments):
        raise ImageError("entry point 0x%x is not inside a loaded segment" % p.entry)
    return p
