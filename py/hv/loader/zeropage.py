# struct boot_params, the "zero page" a Linux kernel gets in RSI/ESI under the
# 32- and 64-bit boot protocols (Documentation/arch/x86/boot.rst, "32-bit
# Boot Protocol"; zero-page.rst; arch/x86/include/uapi/asm/bootparam.h): the
# image's setup header with the loader's fields filled in, and the e820
# memory map. Pure: builds bytes; runs on the bare-metal port and on CPython.
import struct
from micropython import const
from hv.loader import bzimage as B
from hv.loader.mbload import ImageError

SIZE = const(4096)
ACPI_RSDP_ADDR = const(0x070)   # u64 (zero-page.rst); the 2.14 header field was withdrawn
EXT_RAMDISK_IMAGE = const(0x0C0)
EXT_RAMDISK_SIZE = const(0x0C4)
EXT_CMD_LINE_PTR = const(0x0C8)
E820_ENTRIES = const(0x1E8)
E820_TABLE = const(0x2D0)
E820_MAX = const(128)           # E820_MAX_ENTRIES_ZEROPAGE
E820_ENTRY = const(20)          # struct boot_e820_entry: u64 addr, u64 size, u32 type (packed)
ORIG_VIDEO_ISVGA = const(0x00F) # in screen_info at 0x000
VIDEO_MODE_NORMAL = const(0xFFFF)   # vid_mode "normal" (boot.rst, Special Command Line Options)
LOADER_UNDEFINED = const(0xFF)  # type_of_loader: no assigned id (boot.rst, type_of_loader)

E820_RAM = const(1)
E820_RESERVED = const(2)
E820_ACPI = const(3)


def e820(regions):
    """Sorted (addr, size, type) regions -> the packed e820 table; ImageError
    if there are more than the zero page holds or two overlap."""
    regions = sorted(r for r in regions if r[1])
    if len(regions) > E820_MAX:
        raise ImageError("%d memory-map entries; the zero page holds %d" % (len(regions), E820_MAX))
    for (a, s, _), (b, _, _) in zip(regions, regions[1:]):
        if a + s > b:
            raise ImageError("memory-map entries at 0x%x and 0x%x overlap" % (a, b))
    return b"".join(struct.pack("<QQI", a, s, t) for a, s, t in regions)


def build(kernel, regions, cmdline_gpa, initrd_gpa=0, initrd_size=0, rsdp=0):
    """The 4 KiB boot_params for BzImage `kernel` loaded at its load
    address: `regions` the (addr, size, e820 type) memory map, the command
    line at cmdline_gpa, an initrd of initrd_size bytes at initrd_gpa, the
    ACPI RSDP at rsdp (0: the kernel scans the BIOS area for it)."""
    for what, v in (("command line", cmdline_gpa), ("initrd", initrd_gpa + initrd_size),
                    ("kernel", kernel.load_address)):
        if v >= 1 << 32:
            raise ImageError("the %s lies above 4 GiB; this loader keeps everything below" % what)
    bp = bytearray(SIZE)
    # The setup header as in the image, 0x1F1 to its end (boot.rst, 32-bit
    # Boot Protocol); the rest starts zeroed. A zeroed screen_info (no
    # orig_video_isVGA, 0 lines and columns) means no video: the decompressor
    # prints nothing and vgacon falls back to the dummy console.
    bp[B.SETUP_SECTS:kernel.header_end] = kernel.header
    bp[ORIG_VIDEO_ISVGA] = 0
    p = struct.pack_into
    p("<H", bp, B.VID_MODE, VIDEO_MODE_NORMAL)          # modify (obligatory)
    bp[B.TYPE_OF_LOADER] = LOADER_UNDEFINED             # write (obligatory)
    # loadflags (modify, obligatory): LOADED_HIGH stays; QUIET_FLAG clear
    # (print early messages), CAN_USE_HEAP clear: no real-mode setup heap.
    bp[B.LOADFLAGS] = B.LOADED_HIGH
    p("<H", bp, B.HEAP_END_PTR, 0)
    p("<I", bp, B.CODE32_START, kernel.load_address)   # the load address (reloc)
    p("<I", bp, B.RAMDISK_IMAGE, initrd_gpa if initrd_size else 0)
    p("<I", bp, B.RAMDISK_SIZE, initrd_size)
    p("<I", bp, B.CMD_LINE_PTR, cmdline_gpa)
    for off in (EXT_RAMDISK_IMAGE, EXT_RAMDISK_SIZE, EXT_CMD_LINE_PTR):
        p("<I", bp, off, 0)                             # high halves: all below 4 GiB
    p("<Q", bp, ACPI_RSDP_ADDR, rsdp)
    table = e820(regions)
    bp[E820_ENTRIES] = len(table) // E820_ENTRY
    bp[E820_TABLE:E820_TABLE + len(table)] = table
    return bytes(bp)
