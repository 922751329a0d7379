# Host tests for the fw_cfg model (hv.vmm.devices.fw_cfg) read as a guest
# written for QEMU reads it: select with a 16-bit OUT to 0x510, bytes from
# 0x511; signature, ID, RAM size, CPU counts, the file directory, etc/e820,
# and the answers to malformed use (unknown keys, reads past the end).
import struct

import pytest

from hv.vmm.devices.fw_cfg import FwCfg, E820_RAM, E820_RESERVED

E820 = ((0, 0x9FC00, E820_RAM), (0xE0000, 0x20000, E820_RESERVED), (0x100000, (128 << 20) - 0x100000, E820_RAM))


def read(dev, key, n):
    dev.io_write(0x510, 2, key)
    return bytes(dev.io_read(0x511, 1) for _ in range(n))


def find_file(dev, name):
    count = struct.unpack(">I", read(dev, 0x19, 4))[0]
    dev.io_write(0x510, 2, 0x19)
    raw = bytes(dev.io_read(0x511, 1) for _ in range(4 + 64 * count))[4:]
    for i in range(count):
        size, select, _, fname = struct.unpack_from(">IHH56s", raw, 64 * i)
        if fname.rstrip(b"\0") == name:
            return size, select
    return None


def test_signature_id_ram_and_cpus():
    dev = FwCfg(128 << 20, cpus=1, e820=E820)
    assert read(dev, 0x00, 4) == b"QEMU"
    assert struct.unpack("<I", read(dev, 0x01, 4))[0] == 1     # traditional interface, no DMA
    assert struct.unpack("<Q", read(dev, 0x03, 8))[0] == 128 << 20
    assert struct.unpack("<H", read(dev, 0x05, 2))[0] == 1
    assert struct.unpack("<H", read(dev, 0x0F, 2))[0] == 1
    assert struct.unpack("<H", read(FwCfg(1 << 20, 1, 4), 0x0F, 2))[0] == 4


def test_file_directory_and_e820():
    dev = FwCfg(128 << 20, e820=E820)
    size, select = find_file(dev, b"etc/e820")
    assert size == 20 * 3 and select == 0x20
    raw = read(dev, select, size)
    assert [struct.unpack_from("<QQI", raw, 20 * i) for i in range(3)] == list(E820)
    key = dev.add_file("opt/mpvisor/hello", b"hi")
    assert find_file(dev, b"opt/mpvisor/hello") == (2, key) and read(dev, key, 2) == b"hi"
    assert find_file(dev, b"etc/e820") == (60, 0x20)
    with pytest.raises(ValueError):
        dev.add_file("x" * 56, b"")


def test_malformed_use_gets_qemus_answers():
    dev = FwCfg(1 << 20)
    assert read(dev, 0x1234, 4) == bytes(4)                    # unknown key: zeros
    assert read(dev, 0x00, 6) == b"QEMU\0\0"                   # past the end: zeros
    assert read(dev, 0x4000, 4) == b"QEMU"                     # bit 14 (write channel) selects the same item
    dev.io_write(0x510, 2, 0x00)
    dev.io_write(0x511, 1, 0x41)                               # data writes are ignored
    assert dev.io_read(0x511, 1) == ord("Q")
    assert dev.io_read(0x511, 4) == 0xFFFFFFFF and dev.io_read(0x511, 2) == 0xFFFF
    assert dev.io_read(0x511, 1) == ord("E")                   # a rejected read does not advance
    assert dev.io_read(0x510, 1) == ord("M")                   # the combined port: a byte read is data
    dev.io_write(0x510, 1, 0x03)                               # a byte write does not select
    assert dev.io_read(0x511, 1) == ord("U")
