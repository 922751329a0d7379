# A Linux x86 bzImage as the boot protocol describes it (Documentation/arch/
# x86/boot.rst, "The Real-Mode Kernel Header" and "Details of Header Fields"):
# the setup header at 0x1F1, checked field by field, and where the
# protected-mode kernel lies in the file. Pure: works on bytes or a
# memoryview, runs on the bare-metal port and on CPython.
import struct
from micropython import const
from hv.loader.mbload import ImageError

# Offsets in the image (= in boot_params) of the setup header fields.
SETUP_SECTS = const(0x1F1)
SYSSIZE = const(0x1F4)
VID_MODE = const(0x1FA)
BOOT_FLAG = const(0x1FE)
JUMP = const(0x200)
HEADER = const(0x202)
VERSION = const(0x206)
KERNEL_VERSION = const(0x20E)
TYPE_OF_LOADER = const(0x210)
LOADFLAGS = const(0x211)
CODE32_START = const(0x214)
RAMDISK_IMAGE = const(0x218)
RAMDISK_SIZE = const(0x21C)
HEAP_END_PTR = const(0x224)
CMD_LINE_PTR = const(0x228)
INITRD_ADDR_MAX = const(0x22C)
KERNEL_ALIGNMENT = const(0x230)
RELOCATABLE_KERNEL = const(0x234)
MIN_ALIGNMENT = const(0x235)
XLOADFLAGS = const(0x236)
CMDLINE_SIZE = const(0x238)
PREF_ADDRESS = const(0x258)
INIT_SIZE = const(0x260)

BOOT_FLAG_MAGIC = const(0xAA55)
HDRS_MAGIC = const(0x53726448)  # "HdrS"
LOADED_HIGH = const(1 << 0)     # loadflags: protected-mode code at 0x100000 (bzImage)
XLF_KERNEL_64 = const(1 << 0)   # xloadflags: 64-bit entry at the load address + 0x200
ENTRY64_OFFSET = const(0x200)
SECTOR = const(512)

# The oldest protocol this loader takes: 2.10 (Linux 2.6.31, 2009) brought
# init_size and pref_address, which a loader that skips the real-mode setup
# code needs to know where the kernel runs and how much memory it takes.
MIN_VERSION = const(0x020A)


def _version(v):
    return "%d.%02d" % (v >> 8, v & 0xFF)


def is_bzimage(image):
    """True if image has the 0xAA55 boot flag and the "HdrS" magic of a
    Linux kernel (any protocol version: parse() judges the rest)."""
    return (len(image) >= HEADER + 4 and struct.unpack_from("<H", image, BOOT_FLAG)[0] == BOOT_FLAG_MAGIC
            and struct.unpack_from("<I", image, HEADER)[0] == HDRS_MAGIC)


class BzImage:
    """The header fields a loader reads (names as in boot.rst) and the
    protected-mode kernel: `payload` is a memoryview of the file from
    setup_size on, loaded at the kernel's load address."""

    def __init__(self, image):
        u = struct.unpack_from
        self.version = u("<H", image, VERSION)[0]
        self.setup_sects = image[SETUP_SECTS] or 4          # 0 means 4 (boot.rst note 1)
        self.setup_size = (self.setup_sects + 1) * SECTOR   # boot sector + setup code
        rel = image[JUMP + 1]                               # the jump's signed offset ends the header
        self.header_end = HEADER + (rel - 0x100 if rel & 0x80 else rel)
        self.syssize = u("<I", image, SYSSIZE)[0]
        self.loadflags = image[LOADFLAGS]
        self.code32_start = u("<I", image, CODE32_START)[0]
        self.initrd_addr_max = u("<I", image, INITRD_ADDR_MAX)[0]
        self.kernel_alignment = u("<I", image, KERNEL_ALIGNMENT)[0]
        self.relocatable = image[RELOCATABLE_KERNEL] != 0
        self.min_alignment = image[MIN_ALIGNMENT]
        self.xloadflags = u("<H", image, XLOADFLAGS)[0] if self.version >= 0x020C else 0
        self.cmdline_size = u("<I", image, CMDLINE_SIZE)[0]
        self.pref_address = u("<Q", image, PREF_ADDRESS)[0]
        self.init_size = u("<I", image, INIT_SIZE)[0]
        self.kernel_version = None
        self.header = bytes(image[SETUP_SECTS:self.header_end])
        self.payload = memoryview(image)[self.setup_size:]

    @property
    def protocol(self):
        return _version(self.version)

    @property
    def entry64(self):
        """The kernel has the 64-bit entry point (XLF_KERNEL_64)."""
        return bool(self.xloadflags & XLF_KERNEL_64)

    @property
    def load_address(self):
        """Where the protected-mode kernel goes: pref_address, where a
        relocatable kernel runs without moving and a non-relocatable one
        runs regardless (boot.rst, pref_address); 0x100000 if it is 0."""
        return self.pref_address or 0x100000

    @property
    def memory_end(self):
        """End of the memory the kernel needs from its load address before
        it reads the memory map: the loaded bytes and init_size (boot.rst,
        init_size; the runtime start is the load address, already aligned)."""
        return self.load_address + max(self.init_size, len(self.payload))

    def __repr__(self):
        return "<bzImage protocol %s, %d bytes at 0x%x, init_size 0x%x%s: %s>" % (
            self.protocol, len(self.payload), self.load_address, self.init_size,
            ", 64-bit entry" if self.entry64 else "", self.kernel_version)


def _kernel_version(image, b):
    # kernel_version: a pointer, less 0x200, to a NUL-terminated string in
    # the setup code (boot.rst, kernel_version); 0 means none.
    ptr = struct.unpack_from("<H", image, KERNEL_VERSION)[0]
    if not ptr:
        return None
    start = ptr + 0x200
    if start >= b.setup_size:
        raise ImageError("kernel_version points to 0x%x, past the setup code (0x%x bytes)"
                         % (start, b.setup_size))
    end = start
    while end < b.setup_size and image[end]:
        end += 1
    if end == b.setup_size:
        raise ImageError("the kernel version string at 0x%x has no NUL before the end of the setup code"
                         % start)
    try:
        return bytes(image[start:end]).decode()
    except UnicodeError:
        raise ImageError("the kernel version string at 0x%x is not text" % start)


def parse(image):
    """A BzImage of a Linux kernel file; ImageError names the first defect:
    not a bzImage, a protocol before 2.10, a truncated file, header fields
    that contradict each other."""
    n = len(image)
    if n < HEADER + 4:
        raise ImageError("not a bzImage: %d bytes, too short for the setup header at 0x1F1" % n)
    if struct.unpack_from("<H", image, BOOT_FLAG)[0] != BOOT_FLAG_MAGIC:
        raise ImageError("not a bzImage: no 0xAA55 boot flag at 0x1FE")
    if struct.unpack_from("<I", image, HEADER)[0] != HDRS_MAGIC:
        raise ImageError("not a bzImage: no \"HdrS\" magic at 0x202 (a pre-2.00 zImage, or not Linux)")
    if image[JUMP] != 0xEB:
        raise ImageError("the setup header has no short jump (0xEB) at 0x200")
    version = struct.unpack_from("<H", image, VERSION)[0]
    if version < MIN_VERSION:
        raise ImageError("boot protocol %s is too old: this loader needs %s (Linux 2.6.31) or later, "
                         "for init_size and pref_address" % (_version(version), _version(MIN_VERSION)))
    if n < INIT_SIZE + 4:
        raise ImageError("truncated setup: %d bytes, the protocol %s header needs 0x%x"
                         % (n, _version(version), INIT_SIZE + 4))
    b = BzImage(image)
    # The jump reaches at most 0x281 and the setup code is at least 0x400
    # bytes, so a header that is long enough fits both it and boot_params.
    if b.header_end < INIT_SIZE + 4:
        raise ImageError("the setup header ends at 0x%x (the jump at 0x200); protocol %s needs 0x%x"
                         % (b.header_end, b.protocol, INIT_SIZE + 4))
    if n < b.setup_size:
        raise ImageError("truncated setup: setup_sects = %d says %d bytes of setup, the file has %d"
                         % (b.setup_sects, b.setup_size, n))
    if not b.loadflags & LOADED_HIGH:
        raise ImageError("a zImage (loadflags bit LOADED_HIGH clear): it loads at 0x10000; "
                         "only bzImage kernels are supported")
    if b.syssize * 16 > len(b.payload):
        raise ImageError("truncated kernel: syssize says %d bytes after the setup, the file has %d"
                         % (b.syssize * 16, len(b.payload)))
    if not b.payload or not b.syssize:
        raise ImageError("the file holds no protected-mode kernel after its setup (syssize = 0)")
    if b.init_size < len(b.payload):
        raise ImageError("init_size 0x%x is smaller than the protected-mode kernel (0x%x bytes)"
                         % (b.init_size, len(b.payload)))
    if b.relocatable and (b.kernel_alignment == 0 or b.kernel_alignment & (b.kernel_alignment - 1)):
        raise ImageError("kernel_alignment 0x%x of a relocatable kernel is not a power of two"
                         % b.kernel_alignment)
    if b.relocatable and b.load_address % b.kernel_alignment:
        raise ImageError("pref_address 0x%x is not aligned to kernel_alignment 0x%x"
                         % (b.load_address, b.kernel_alignment))
    if b.load_address < 0x100000 or b.memory_end > 1 << 32:
        raise ImageError("the kernel wants 0x%x-0x%x, outside 1 MiB-4 GiB"
                         % (b.load_address, b.memory_end))
    b.kernel_version = _kernel_version(image, b)
    return b
