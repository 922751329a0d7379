# Host tests for the Linux boot protocol loader's pure parts: the bzImage
# setup header (hv.loader.bzimage), boot_params and the e820 map
# (hv.loader.zeropage) and the placement plan (hv.loader.linux.plan), on
# synthesized images, every malformed one named by its ImageError.
import struct

import pytest

from bzimage_fakes import VERSION_STRING, bzimage
from hv.loader import bzimage as B, linux, zeropage
from hv.loader.mbload import ImageError

MiB = 1 << 20


def test_header_fields_of_a_synthesized_image():
    image = bzimage(setup_sects=0)                      # 0 means 4 (boot.rst note 1)
    k = B.parse(image)
    assert B.is_bzimage(image)
    assert (k.version, k.protocol, k.setup_sects, k.setup_size) == (0x20F, "2.15", 4, 5 * 512)
    assert k.header_end == 0x26C and k.header == image[0x1F1:0x26C]
    assert bytes(k.payload) == image[5 * 512:] and len(k.payload) == 0x3000
    assert k.entry64 and k.relocatable and k.kernel_alignment == 0x200000
    assert (k.cmdline_size, k.initrd_addr_max, k.init_size) == (2047, 0x7FFFFFFF, 0x40000)
    assert k.load_address == 0x200000 and k.memory_end == 0x240000
    assert k.kernel_version == VERSION_STRING.decode()


def test_load_address_is_pref_address_or_1_mib():
    assert B.parse(bzimage(pref_address=0x1000000, init_size=0x3000000)).memory_end == 0x4000000
    assert B.parse(bzimage(pref_address=0, relocatable=0)).load_address == 0x100000


def test_protocol_2_10_has_no_xloadflags():
    k = B.parse(bzimage(version=0x020A, xloadflags=0x01))
    assert k.xloadflags == 0 and not k.entry64


@pytest.mark.parametrize("image, message", [
    (b"\x00" * 0x100, "not a bzImage: 256 bytes"),
    (b"\x7fELF" + bytes(4092), "no 0xAA55 boot flag"),
    (bzimage(magic=b"HdrX"), "no \"HdrS\" magic"),
    (bzimage(jump=(0xE9, 0x6A)), "no short jump"),
    (bzimage(version=0x0209), "boot protocol 2.09 is too old: this loader needs 2.10"),
    (bzimage(truncate=0x250), "truncated setup: 592 bytes"),
    (bzimage(setup_sects=30, truncate=0x1000), "truncated setup: setup_sects = 30 says 15872 bytes"),
    (bzimage(jump=(0xEB, 0x20)), "the setup header ends at 0x222"),
    (bzimage(jump=(0xEB, 0x90)), "ends at 0x192"),          # a backward jump
    (bzimage(loadflags=0), "a zImage"),
    (bzimage(syssize=0x1000), "truncated kernel: syssize says 65536 bytes"),
    (bzimage(payload=b""), "no protected-mode kernel"),
    (bzimage(init_size=0x1000), "init_size 0x1000 is smaller than the protected-mode kernel"),
    (bzimage(kernel_alignment=0x300000), "kernel_alignment 0x300000 .* not a power of two"),
    (bzimage(pref_address=0x180000), "pref_address 0x180000 is not aligned"),
    (bzimage(pref_address=0x80000, relocatable=0), "outside 1 MiB-4 GiB"),
    (bzimage(kernel_version=0x900), "kernel_version points to 0xb00, past the setup code"),
    (bzimage(version_string=b"x" * 0x900), "no NUL"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_malformed_images_are_named(image, message):
    with pytest.raises(ImageError, match=message):
        B.parse(image)


def test_not_a_bzimage_is_recognised_as_such():
    assert not B.is_bzimage(b"\x7fELF" + bytes(4092))
    assert not B.is_bzimage(bzimage(magic=b"HdrX"))
    assert B.is_bzimage(bzimage(version=0x0200))        # old but Linux: parse() says why not


def test_memory_map_is_the_pc_map_with_reserved_regions_cut_out():
    assert linux.memory_map(64 * MiB) == [(0, 0x9FC00, 1), (0x9FC00, 0x400, 2), (0xF0000, 0x10000, 2),
                                          (0x100000, 63 * MiB, 1)]
    acpi = (64 * MiB - 0x10000, 0x10000, zeropage.E820_ACPI)
    bios = (0xF0000, 0x100, zeropage.E820_ACPI)
    m = sorted(linux.memory_map(64 * MiB, [acpi, bios]))
    assert m == [(0, 0x9FC00, 1), (0x9FC00, 0x400, 2), (0xF0000, 0x100, 3), (0xF0100, 0xFF00, 2),
                 (0x100000, 63 * MiB - 0x10000, 1), acpi]


def test_e820_table_checks():
    assert zeropage.e820([(0x100000, 0x1000, 1), (0, 0x1000, 1), (0x5000, 0, 2)]) == \
        struct.pack("<QQIQQI", 0, 0x1000, 1, 0x100000, 0x1000, 1)
    with pytest.raises(ImageError, match="0x0 and 0x800 overlap"):
        zeropage.e820([(0, 0x1000, 1), (0x800, 0x1000, 2)])
    with pytest.raises(ImageError, match="129 memory-map entries; the zero page holds 128"):
        zeropage.e820([(i * 0x2000, 0x1000, 1) for i in range(129)])


def test_boot_params_fields():
    image = bzimage()
    k = B.parse(image)
    regions = linux.memory_map(32 * MiB)
    bp = zeropage.build(k, regions, 0x11000, 0x1F00000, 0x1234, rsdp=0xF0010)
    u = struct.unpack_from
    assert len(bp) == 4096
    assert bp[0x26C:0x290] == bytes(0x290 - 0x26C) and bp[:0x70] == bytes(0x70)  # no video: screen_info 0
    assert bp[0x1EF] == 0                       # the sentinel stays 0: the header is copied from 0x1F1
    assert bp[0x202:0x206] == b"HdrS" and u("<H", bp, 0x206)[0] == 0x20F
    assert bp[0x210] == 0xFF and bp[0x211] == 0x01          # type_of_loader, loadflags LOADED_HIGH only
    assert u("<H", bp, 0x1FA)[0] == 0xFFFF and u("<H", bp, 0x224)[0] == 0
    assert u("<4I", bp, 0x214) == (0x200000, 0x1F00000, 0x1234, 0)   # code32_start, ramdisk, size
    assert u("<I", bp, 0x228)[0] == 0x11000
    assert u("<Q", bp, 0x070)[0] == 0xF0010
    assert u("<3I", bp, 0x0C0) == (0, 0, 0)
    assert u("<Q", bp, 0x258)[0] == 0x200000 and u("<I", bp, 0x260)[0] == 0x40000   # read fields kept
    assert bp[0x1E8] == 4
    entries = [u("<QQI", bp, 0x2D0 + 20 * i) for i in range(4)]
    assert entries == sorted(regions) and bp[0x2D0 + 80:0x2D0 + 100] == bytes(20)


def test_plan_places_everything_and_picks_the_entry():
    image = bzimage(pref_address=0x200000, init_size=0x400000)
    p = linux.plan(image, 32 * MiB, initrd_size=0x1801, cmdline="console=ttyS0 quiet")
    assert p.mode == "long" and p.entry == 0x200200
    assert p.initrd_gpa == 32 * MiB - 0x2000 and p.initrd_size == 0x1801     # top of RAM, page-aligned
    assert p.cmdline == b"console=ttyS0 quiet\0"
    assert struct.unpack_from("<3I", p.boot_params, 0x218) == (p.initrd_gpa, 0x1801, 0)
    p32 = linux.plan(image, 32 * MiB, mode="protected")
    assert p32.mode == "protected" and p32.entry == 0x200000 and p32.initrd_gpa == 0
    assert struct.unpack_from("<2I", p32.boot_params, 0x218) == (0, 0)
    assert linux.plan(bzimage(xloadflags=0), 32 * MiB).mode == "protected"
    low = linux.plan(image, 32 * MiB, initrd_size=0x1000, reserved=[(31 * MiB, MiB, 3)])
    assert low.initrd_gpa == 31 * MiB - 0x1000                  # below the ACPI tables


def test_initrd_obeys_initrd_addr_max():
    p = linux.plan(bzimage(initrd_addr_max=0xFFFFFF), 64 * MiB, initrd_size=0x1000)
    assert p.initrd_gpa == 0xFFF000


@pytest.mark.parametrize("kwargs, image, message", [
    (dict(mem_size=16 * MiB), bzimage(pref_address=0x1000000), "needs RAM 0x1000000-0x1040000"),
    (dict(mem_size=2 * MiB), bzimage(payload=bytes(3 * MiB), init_size=4 * MiB), "needs RAM"),
    (dict(initrd_size=31 * MiB), bzimage(), r"initrd \(32505856 bytes\) does not fit"),
    (dict(initrd_size=0x1000), bzimage(initrd_addr_max=0x23FFFF), "does not fit"),   # below the kernel's end
    (dict(cmdline="x" * 256), bzimage(cmdline_size=255), "256 bytes; this kernel takes at most 255"),
    (dict(mode="long"), bzimage(xloadflags=0x02), "no 64-bit entry point"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_plan_errors(kwargs, image, message):
    kwargs.setdefault("mem_size", 32 * MiB)
    with pytest.raises(ImageError, match=message):
        linux.plan(image, **kwargs)


def test_plan_argument_errors():
    with pytest.raises(ValueError, match="mode must be"):
        linux.plan(bzimage(), 32 * MiB, mode="real")
    with pytest.raises(ValueError, match="NUL"):
        linux.plan(bzimage(), 32 * MiB, cmdline="a\0b")
