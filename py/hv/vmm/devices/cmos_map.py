# The PC's CMOS memory map beyond the clock (IBM PC/AT Technical Reference,
# "CMOS RAM Address Map"; the bytes above 0x33 as QEMU's pc_cmos_init() sets
# them and SeaBIOS reads them): equipment, base/extended memory, memory
# above 16 MiB and 4 GiB, CPU count, the AT checksum. Pure Python.
from micropython import const

SHUTDOWN = const(0x0F)          # shutdown status: 0 = normal power-on
FLOPPY = const(0x10)            # drive types: 0 = none
DISK = const(0x12)
EQUIPMENT = const(0x14)         # bit 1: math coprocessor; bits 5:4 00 = EGA/VGA-class or none; 7:6,0 floppies
EQUIP_FPU = const(0x02)
BASE_KB = const(0x15)           # base memory in KiB, 16 bits (640)
EXT_KB = const(0x17)            # memory above 1 MiB in KiB, 16 bits, at most 65535
CHECKSUM = const(0x2E)          # big-endian sum of 0x10-0x2D
EXT_KB_POST = const(0x30)       # the same, as POST found it
ABOVE_16M = const(0x34)         # memory above 16 MiB (below 4 GiB) in 64 KiB units, 16 bits
ABOVE_4G = const(0x5B)          # memory above 4 GiB in 64 KiB units, 24 bits (QEMU/SeaBIOS)
CPUS_MINUS_1 = const(0x5F)      # QEMU/SeaBIOS: number of CPUs - 1
_KIB = const(1024)
_MIB = const(1024 * 1024)


def _put16(nvram, at, v):
    nvram[at], nvram[at + 1] = v & 0xFF, v >> 8 & 0xFF


def fill_pc(nvram, below_4g, above_4g=0, cpus=1):
    """Write the memory-size bytes for `below_4g` bytes of RAM from 0 and
    `above_4g` bytes from 4 GiB, the equipment byte and the checksum."""
    nvram[SHUTDOWN] = nvram[FLOPPY] = nvram[DISK] = 0
    nvram[EQUIPMENT] = EQUIP_FPU
    _put16(nvram, BASE_KB, min(640, below_4g // _KIB))
    ext = min(max(below_4g // _KIB - 1024, 0), 0xFFFF)
    _put16(nvram, EXT_KB, ext)
    _put16(nvram, EXT_KB_POST, ext)
    _put16(nvram, ABOVE_16M, min(max(below_4g - 16 * _MIB, 0) // (64 * _KIB), 0xFFFF))
    big = min(above_4g // (64 * _KIB), 0xFFFFFF)
    nvram[ABOVE_4G], nvram[ABOVE_4G + 1], nvram[ABOVE_4G + 2] = big & 0xFF, big >> 8 & 0xFF, big >> 16
    nvram[CPUS_MINUS_1] = cpus - 1
    s = sum(nvram[0x10:CHECKSUM])
    nvram[CHECKSUM], nvram[CHECKSUM + 1] = s >> 8 & 0xFF, s & 0xFF
