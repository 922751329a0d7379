"""Synthesized Linux bzImage files for the host tests (CPython): a boot
sector and setup code holding the setup header of Documentation/arch/x86/
boot.rst with chosen field values, then a protected-mode "kernel" of
recognisable bytes. Also the stock kernel fetched by `make linux`.
"""
import os
import struct

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LINUX_DIR = os.path.join(ROOT, "build", "linux")
VERSION_STRING = b"6.6.6-test (mpvisor@host) #1 SMP"


def bzimage(version=0x020F, setup_sects=4, payload=None, syssize=None, loadflags=0x01,
            pref_address=0x200000, init_size=0x40000, kernel_alignment=0x200000,
            relocatable=1, xloadflags=0x03, cmdline_size=2047, initrd_addr_max=0x7FFFFFFF,
            kernel_version=0x200, boot_flag=0xAA55, magic=b"HdrS", jump=(0xEB, 0x6A),
            version_string=VERSION_STRING, truncate=None):
    """bytes of a bzImage whose header fields are the arguments."""
    payload = bytes((i * 7 + 3) & 0xFF for i in range(0x3000)) if payload is None else payload
    setup = bytearray(((setup_sects or 4) + 1) * 512)
    setup[0x1EF] = 0xFF                                     # the sentinel, as a real image has it
    setup[0x1F1] = setup_sects
    struct.pack_into("<I", setup, 0x1F4, (len(payload) + 15) // 16 if syssize is None else syssize)
    struct.pack_into("<H", setup, 0x1FE, boot_flag)
    setup[0x200:0x202] = bytes(jump)
    setup[0x202:0x206] = magic
    struct.pack_into("<H", setup, 0x206, version)
    struct.pack_into("<H", setup, 0x20E, kernel_version)
    setup[0x211] = loadflags
    struct.pack_into("<I", setup, 0x214, 0x100000)          # code32_start
    struct.pack_into("<I", setup, 0x22C, initrd_addr_max)
    struct.pack_into("<I", setup, 0x230, kernel_alignment)
    setup[0x234] = relocatable
    setup[0x235] = 21
    struct.pack_into("<H", setup, 0x236, xloadflags)
    struct.pack_into("<I", setup, 0x238, cmdline_size)
    struct.pack_into("<Q", setup, 0x258, pref_address)
    struct.pack_into("<I", setup, 0x260, init_size)
    at = kernel_version + 0x200
    if kernel_version and at < len(setup):          # NUL-terminated where it fits
        text = (version_string + b"\0")[:len(setup) - at]
        setup[at:at + len(text)] = text
    image = bytes(setup) + payload
    return image[:truncate] if truncate is not None else image


def stock(name):
    """Path of build/linux/NAME (`make linux`); the test fails without it."""
    path = os.path.join(LINUX_DIR, name)
    if not os.path.exists(path):
        pytest.fail("%s is missing: fetch the stock kernel with `make linux`" % path)
    return path


def stock_version():
    """build/linux/VERSION as a dict: kernel, release, busybox."""
    with open(stock("VERSION")) as f:
        return dict(line.split(None, 1) for line in f.read().splitlines())
