# Host tests of the I/O APIC model (hv.vmm.devices.ioapic) against the 82093AA
# datasheet: IOREGSEL/IOWIN, ID/version/arbitration, redirection entries and
# their read-only bits, out-of-range indexes, edge and level inputs, masking,
# remote IRR cleared by the EOI broadcast, polarity, the PC's ISA routing.
import pytest

from hv.vmm.devices import apic_defs as D
from hv.vmm.devices.ioapic import IoApic

BASE = 0xFEC00000


@pytest.fixture
def io():
    sent = []
    dev = IoApic(lambda *m: sent.append(m) or True)
    return dev, sent


def reg(dev, index, value=None):
    dev.write(BASE, 4, index)
    if value is None:
        return dev.read(BASE + 0x10, 4)
    dev.write(BASE + 0x10, 4, value)


def test_identification_registers(io):
    dev, _ = io
    assert reg(dev, 1) == 0x00170011                      # version 0x11, 24 entries
    reg(dev, 0, 0xFFFFFFFF)
    assert reg(dev, 0) == 0x0F000000 and reg(dev, 2) == 0x0F000000
    reg(dev, 1, 0)
    assert reg(dev, 1) == 0x00170011
    dev.write(BASE, 4, 0x1FF)
    assert dev.read(BASE, 4) == 0xFF                      # IOREGSEL is 8 bits


def test_redirection_entries(io):
    dev, _ = io
    for pin in range(24):
        assert reg(dev, 0x10 + 2 * pin) == 0x10000 and reg(dev, 0x11 + 2 * pin) == 0
    reg(dev, 0x10, 0xFFFFFFFF)
    assert reg(dev, 0x10) == 0x1AFFF                      # delivery status, remote IRR RO
    reg(dev, 0x11, 0xFFFFFFFF)
    assert reg(dev, 0x11) == 0xFF000000


def test_out_of_range_index(io):
    dev, _ = io
    for index in (0x03, 0x0F, 0x40, 0x41, 0xFF):
        reg(dev, index, 0x1234)
        assert reg(dev, index) == 0xFFFFFFFF
    assert dev.rte == [0x10000] * 24
    assert dev.read(BASE + 0x10, 1) == 0                  # the window is 32-bit only


def test_edge_masking(io):
    dev, sent = io
    dev.pulse(2)
    assert sent == []                                     # masked: the edge is lost
    reg(dev, 0x14, 0x30)
    reg(dev, 0x15, 0x01000000)
    dev.pulse(2)
    dev.pulse(2)
    assert sent == [(0, 0x30, False, 1, False)] * 2
    assert not reg(dev, 0x14) & D.RTE_REMOTE_IRR


def test_level_remote_irr_and_eoi(io):
    dev, sent = io
    reg(dev, 0x10 + 2 * 9, D.RTE_LEVEL | D.RTE_POLARITY_LOW | 0x49)
    dev.set_irq(9, 1)                                     # asserted (the polarity is the wiring's)
    assert sent == [(0, 0x49, True, 0, False)]
    assert reg(dev, 0x10 + 18) & D.RTE_REMOTE_IRR
    dev.set_irq(9, 0)
    dev.set_irq(9, 1)
    assert len(sent) == 1                                 # remote IRR holds it
    dev.eoi(0x48)
    assert len(sent) == 1
    dev.eoi(0x49)                                         # still asserted: sent again
    assert len(sent) == 2 and reg(dev, 0x10 + 18) & D.RTE_REMOTE_IRR
    dev.set_irq(9, 0)
    dev.eoi(0x49)
    assert len(sent) == 2 and not reg(dev, 0x10 + 18) & D.RTE_REMOTE_IRR


def test_unmask_sends_asserted_level(io):
    dev, sent = io
    reg(dev, 0x10 + 2 * 5, D.RTE_LEVEL | D.RTE_MASKED | 0x55)
    dev.set_irq(5, 1)
    assert sent == []
    reg(dev, 0x10 + 2 * 5, D.RTE_LEVEL | 0x55)
    assert sent == [(0, 0x55, True, 0, False)]


def test_unwired_pins_ignored(io):
    dev, sent = io
    dev.set_irq(24, 1)
    dev.set_irq(-1, 1)
    assert sent == []


def test_isa_routing():
    assert D.isa_gsi(0) == 2
    assert [D.isa_gsi(i) for i in range(1, 16)] == list(range(1, 16))
