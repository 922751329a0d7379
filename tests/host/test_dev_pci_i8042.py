# Host tests for PCI configuration mechanism #1 with the 440FX host bridge
# (hv.vmm.devices.pci) and the 8042 keyboard controller with port 0x92
# (hv.vmm.devices.i8042), driven as Linux's probes drive them: type 1
# detection, a bus scan that finds only 00:00.0, the reset registers, the
# controller's command byte, self tests, keyboard replies, A20 and IRQ 1.
from hv.vmm.devices.i8042 import I8042, Port92
from hv.vmm.devices.pci import PciHost


def cfg_read(pci, bus, dev, fn, reg, width=4):
    pci.io_write(0xCF8, 4, 0x80000000 | bus << 16 | dev << 11 | fn << 8 | (reg & 0xFC))
    return pci.io_read(0xCFC + (reg & 3), width)


def cfg_write(pci, bus, dev, fn, reg, value, width=4):
    pci.io_write(0xCF8, 4, 0x80000000 | bus << 16 | dev << 11 | fn << 8 | (reg & 0xFC))
    return pci.io_write(0xCFC + (reg & 3), width, value)


# -- PCI --------------------------------------------------------------------------
def test_linux_pci_check_type1_finds_mechanism_1():
    pci = PciHost()
    pci.io_write(0xCFB, 1, 0x01)                         # arch/x86/pci/direct.c
    tmp = pci.io_read(0xCF8, 4)
    pci.io_write(0xCF8, 4, 0x80000000)
    assert pci.io_read(0xCF8, 4) == 0x80000000
    assert cfg_read(pci, 0, 0, 0, 0x08) >> 16 == 0x0600   # pci_sanity_check: a host bridge
    pci.io_write(0xCF8, 4, tmp)
    pci.io_write(0xCF8, 4, 0xFFFFFFFF)
    assert pci.io_read(0xCF8, 4) == 0x80FFFFFC            # reserved bits read 0


def test_bus_scan_finds_only_the_i440fx():
    pci = PciHost()
    found = []
    for bus in (0, 1, 255):
        for dev in range(32):
            for fn in range(8):
                v = cfg_read(pci, bus, dev, fn, 0)
                if v != 0xFFFFFFFF:
                    found.append((bus, dev, fn, v))
    assert found == [(0, 0, 0, 0x12378086)]
    assert cfg_read(pci, 0, 0, 0, 0x08) == 0x06000002      # class 06/00/00, revision 2
    assert cfg_read(pci, 0, 0, 0, 0x0E, 1) == 0x00         # header type 0, single function
    assert cfg_read(pci, 0, 0, 0, 0x10) == 0 and cfg_read(pci, 0, 0, 0, 0x34, 1) == 0


def test_config_writes_respect_the_writable_bits_and_widths():
    pci = PciHost()
    cfg_write(pci, 0, 0, 0, 0x00, 0xDEADBEEF)              # IDs are read-only
    assert cfg_read(pci, 0, 0, 0, 0x00) == 0x12378086
    cfg_write(pci, 0, 0, 0, 0x59, 0x30, width=1)           # PAM0: BIOS area read/write
    cfg_write(pci, 0, 0, 0, 0x5A, 0x3333, width=2)
    assert cfg_read(pci, 0, 0, 0, 0x58) == 0x33333000
    assert cfg_read(pci, 0, 0, 0, 0x5B, 1) == 0x33
    cfg_write(pci, 0, 0, 0, 0x72, 0xFF, width=1)
    assert cfg_read(pci, 0, 0, 0, 0x72, 1) == 0x7A         # C_BASE_SEG stays 010
    assert cfg_write(pci, 0, 3, 0, 0x00, 0) is None        # no device: dropped
    pci.io_write(0xCF8, 4, 0x00000000)                     # enable bit clear: ordinary I/O
    assert pci.io_read(0xCFC, 4) == 0xFFFFFFFF and pci.io_read(0xCFE, 2) == 0xFFFF


def test_non_dword_accesses_to_cf8_and_the_reset_control_register():
    pci = PciHost()
    pci.io_write(0xCF8, 4, 0x80000000)
    assert pci.io_read(0xCF8, 2) == 0xFFFF and pci.io_read(0xCFA, 1) == 0xFF
    assert pci.io_write(0xCF9, 1, 0x02) is None             # SRST alone: no reset yet
    assert pci.io_read(0xCF9, 1) == 0x02
    assert pci.io_write(0xCF9, 1, 0x06) == "Reset"          # Linux reboot=pci, ACPI reset value
    assert pci.io_write(0xCF8, 2, 0x0606) is None           # not a byte write to 0xCF9
    assert pci.io_read(0xCF8, 4) == 0x80000000


# -- i8042 ------------------------------------------------------------------------
def make_kbc():
    lines = []
    return I8042(irq=lambda line, level: lines.append((line, level))), lines


def cmd(k, c, *data):
    r = k.io_write(0x64, 1, c)
    for d in data:
        r = k.io_write(0x60, 1, d) or r
    return r


def drain(k):
    got = []
    while k.io_read(0x64, 1) & 1:
        got.append(k.io_read(0x60, 1))
    return got


def test_linux_i8042_controller_init_sequence():
    k, lines = make_kbc()
    assert k.io_read(0x64, 1) != 0xFF and drain(k) == []
    cmd(k, 0x20)
    ctr = drain(k)
    assert ctr == [0x45] and lines == [(1, True), (1, False)]
    cmd(k, 0x60, 0x44)                                   # KBDINT off
    cmd(k, 0x20)
    assert drain(k) == [0x44] and len(lines) == 2        # no IRQ 1 with KBDINT clear
    cmd(k, 0xAA)
    assert drain(k) == [0x55] and k.io_read(0x64, 1) & 0x04
    cmd(k, 0xAB)
    assert drain(k) == [0x00]
    cmd(k, 0xA8)
    cmd(k, 0xA9)
    assert drain(k) == []                                # aux enable/test: no aux port, no answer
    cmd(k, 0xD3, 0x5A)                                   # aux loop: unknown, so 0x5A goes to the keyboard,
    assert drain(k) == [0xFE]                            # which asks for a resend (not AUX data: Linux stops)
    assert k.io_read(0x64, 1) & 0x08 == 0                # the last write went to 0x60


def test_keyboard_replies():
    k, _ = make_kbc()
    for sent, want in (((0xFF,), [0xFA, 0xAA]), ((0xF2,), [0xFA, 0xAB, 0x83]),
                       ((0xED, 0x07), [0xFA, 0xFA]), ((0xEE,), [0xEE]),
                       ((0xF0, 0x00), [0xFA, 0xFA, 0x41]), ((0xF0, 0x01), [0xFA, 0xFA]),
                       ((0xF4,), [0xFA]), ((0x12,), [0xFE])):
        for b in sent:
            k.io_write(0x60, 1, b)
        assert drain(k) == want, sent
    assert k.scan_set == 1
    assert k.io_read(0x60, 1) == 0xFE                    # an empty buffer reads its last byte


def test_reset_lines_and_a20():
    k, _ = make_kbc()
    assert k.a20
    assert cmd(k, 0xDD) is None and not k.a20
    assert cmd(k, 0xDF) is None and k.a20
    assert cmd(k, 0xD1, 0xCD) is None and not k.a20      # output port: A20 off, reset high
    cmd(k, 0xD0)
    assert drain(k) == [0xCD]
    assert cmd(k, 0xFF) is None                          # pulse nothing
    assert cmd(k, 0xFE) == "Reset"
    assert cmd(k, 0xF0) == "Reset"
    assert cmd(k, 0xD1, 0xCE) == "Reset"                 # reset line written low
    p92 = Port92(k)
    assert p92.io_write(0x92, 1, 0x02) is None and k.a20 and p92.io_read(0x92, 1) == 0x02
    assert p92.io_write(0x92, 1, 0x00) is None and not k.a20
    assert p92.io_write(0x92, 1, 0x01) == "Reset"
