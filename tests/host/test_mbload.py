# Host tests for the multiboot guest loader (hv.loader.mbload) and the information
# structure it hands the guest (hv.loader.mbinfo), on images built here.
import struct

import pytest

import multiboot
from hv.loader import mbinfo, mbload
from hv.loader.mbload import ImageError, plan

MB = 0x1BADB002
MEM = 64 << 20


def header(flags, fields=()):
    return struct.pack("<3I", MB, flags, (-(MB + flags)) & 0xFFFFFFFF) + struct.pack("<%dI" % len(fields), *fields)


def aout(code=b"\x90" * 100, load=0x100000, bss=0x2000, entry_off=32, flags=1 << 16):
    hdr_len = 32
    end = load + hdr_len + len(code)
    return header(flags, (load, load, end, end + bss, load + entry_off)) + code


def elf32(segments, entry, flags=0, machine=3):
    # segments: (paddr, data, memsz); the multiboot header goes in the first.
    mbh = header(flags)
    phoff, phnum = 52, len(segments)
    data_off = phoff + 32 * phnum
    body, phdrs = b"", b""
    for i, (paddr, data, memsz) in enumerate(segments):
        if i == 0:
            data = mbh + data
            memsz += len(mbh)
        off = data_off + len(body)
        phdrs += struct.pack("<8I", 1, off, paddr, paddr, len(data), memsz, 5, 0x1000)
        body += data
    ident = b"\x7fELF" + bytes([1, 1, 1]) + bytes(9)
    eh = ident + struct.pack("<HHIIIIIHHHHHH", 2, machine, 1, entry, phoff, 0, 0, 52, 32, phnum, 40, 0, 0)
    return eh + phdrs + body


def elf64(segments, entry, flags=0):
    mbh = header(flags)
    phoff, phnum = 64, len(segments)
    data_off = phoff + 56 * phnum
    body, phdrs = b"", b""
    for i, (paddr, data, memsz) in enumerate(segments):
        if i == 0:
            data = mbh + data
            memsz += len(mbh)
        off = data_off + len(body)
        phdrs += struct.pack("<IIQQQQQQ", 1, 5, off, paddr, paddr, len(data), memsz, 0x1000)
        body += data
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    eh = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, entry, phoff, 0, 0, 64, 56, phnum, 64, 0, 0)
    return eh + phdrs + body


def test_aout_kludge_image():
    p = plan(aout(), MEM)
    assert p.kind == "a.out-kludge" and p.entry == 0x100020
    (gpa, data, memsz), = p.segments
    assert gpa == 0x100000 and len(data) == 132 and memsz == 132 + 0x2000
    assert data[:4] == struct.pack("<I", MB)


def test_aout_header_not_at_file_start():
    # header_addr - load_addr = 16: the header sits 16 bytes into the load.
    img = b"\xcc" * 16 + header(1 << 16, (0x200010, 0x200000, 0x200040, 0, 0x200000)) + b"\x90" * 16
    p = plan(img, MEM)
    assert p.segments == [(0x200000, img[:0x40], 0x40)]


def test_elf32_and_elf64_segments():
    p = plan(elf32([(0x100000, b"\x90" * 64, 0x1000), (0x200000, b"data", 0x3000)], entry=0x100010), MEM)
    assert p.kind == "ELF32" and p.entry == 0x100010
    assert [(g, m) for g, _, m in p.segments] == [(0x100000, 0x100C), (0x200000, 0x3000)]
    p = plan(elf64([(0x300000, b"\x90" * 64, 64)], entry=0x300000), MEM)
    assert p.kind == "ELF64" and p.segments[0][0] == 0x300000


@pytest.mark.parametrize("image, message", [
    (b"\x90" * 9000, "no multiboot header"),
    (struct.pack("<3I", MB, 0, 0) + bytes(64), "bad checksum"),
    (header(0) + bytes(64), "not an ELF file"),
    (header(1 << 2) + bytes(64), "video mode"),
    (header(1 << 5) + bytes(64), "does not know"),
    (aout()[:40], "truncated"),
    (aout(load=0x100000)[:20], "truncated"),
    (header(1 << 16, (0x100000, 0x100010, 0x100100, 0, 0x100000)), "above header_addr"),
    (aout(entry_off=0x100000), "entry point"),
    (aout(load=MEM - 64), "outside guest RAM"),
    (aout(load=0x9F000), "reserved area"),
    (elf32([(0x100000, b"\x90" * 64, 64)], entry=0x100000)[:150], "truncated"),
    (elf32([(0x100000, b"\x90" * 64, 64)], entry=0x100000, machine=40), "not x86"),
    (elf32([(0x100000, b"\x90" * 64, 64)], entry=0x500000), "entry point"),
    (elf64([(0x100000, b"\x90" * 64, 64)], entry=1 << 33), "entry point"),
])
def test_malformed_images_are_named(image, message):
    with pytest.raises(ImageError, match=message):
        plan(image, MEM)


def test_info_structure_parses_back_with_the_kernels_own_parser():
    blob = mbinfo.build(MEM, cmdline="demo verbose=1", modules=[(0x400000, 0x401000, "/initrd args")])

    def read(addr, n):
        off = addr - mbload.INFO_BASE
        assert 0 <= off and off + n <= len(blob) + 64
        return (blob + bytes(64))[off:off + n]

    info = multiboot.BootInfo(mbload.INFO_BASE, read)
    assert info.cmdline == "demo verbose=1" and info.loader_name == "mpvisor"
    assert info.mem_lower == 639 and info.mem_upper == (MEM - 0x100000) // 1024
    assert info.memory_map == [(0, 0x9FC00, 1), (0x9FC00, 0x400, 2), (0xF0000, 0x10000, 2),
                               (0x100000, MEM - 0x100000, 1)]
    (mod,) = info.modules
    assert (mod.start, mod.end, mod.cmdline) == (0x400000, 0x401000, "/initrd args")
