# Host tests for the emulated legacy devices: 8259A PIC pair and 8254 PIT
# channel 0, driven through port I/O as a guest drives them.
from hv.vmm.devices.pic import Pic
from hv.vmm.devices.pit import PIT_HZ, Pit


def init_pic(pic, master=0x20, slave=0x28, auto_eoi=False):
    icw4 = 0x03 if auto_eoi else 0x01
    for port, values in ((0x20, (0x11,)), (0x21, (master, 0x04, icw4)),
                         (0xA0, (0x11,)), (0xA1, (slave, 0x02, icw4))):
        for v in values:
            pic.io_write(port, 1, v)


def test_pic_remap_mask_and_eoi():
    pic = Pic()
    init_pic(pic)
    pic.io_write(0x21, 1, 0xFF)                  # OCW1: mask all (ICW1 cleared the IMR)
    pic.raise_irq(0)
    assert pic.pending_vector() == -1
    pic.io_write(0x21, 1, 0xFE)                  # unmask IRQ 0 only
    assert pic.pending_vector() == 0x20
    assert pic.acknowledge() == 0x20
    assert pic.pending_vector() == -1            # in service
    pic.raise_irq(0)
    assert pic.pending_vector() == -1            # blocked until EOI
    pic.io_write(0x20, 1, 0x0B)                  # OCW3: read ISR
    assert pic.io_read(0x20, 1) == 0x01
    pic.io_write(0x20, 1, 0x20)                  # non-specific EOI
    assert pic.pending_vector() == 0x20
    assert pic.io_read(0x21, 1) == 0xFE


def test_pic_write_mask_takes_ocw1_only():
    pic = Pic()
    pic.io_write(0x20, 1, 0x11)                  # ICW1: the next 0x21 writes are ICW2-4
    assert pic.write_mask(0x21, 0x20) is None
    init_pic(pic)
    assert pic.write_mask(0x20, 0x20) is None    # a command (EOI), not a mask
    assert pic.write_mask(0x4D0, 0x08) is None   # the ELCR
    assert pic.write_mask(0x21, 0xFF) is False   # masks, unmasks nothing (ICW1 cleared the IMR)
    assert pic.write_mask(0xA1, 0xFF) is False
    assert pic.write_mask(0xA1, 0xFB) is True and pic.io_read(0xA1, 1) == 0xFB
    assert pic.write_mask(0x21, 0xFE) is True and pic.io_read(0x21, 1) == 0xFE
    assert pic.master.vector_base == 0x20 and pic.slave.vector_base == 0x28


def test_pic_priority_and_masked_irqs():
    pic = Pic()
    init_pic(pic)
    pic.io_write(0x21, 1, 0x00)
    pic.raise_irq(4)
    pic.raise_irq(1)
    assert pic.acknowledge() == 0x21             # IRQ 1 before IRQ 4
    pic.io_write(0x20, 1, 0x20)
    assert pic.acknowledge() == 0x24
    pic.io_write(0x21, 1, 0x10)                  # mask IRQ 4
    pic.io_write(0x20, 1, 0x20)
    pic.raise_irq(4)
    assert pic.pending_vector() == -1


def test_pic_slave_through_cascade_and_auto_eoi():
    pic = Pic()
    init_pic(pic, auto_eoi=True)
    pic.io_write(0x21, 1, 0xFB)                  # only the cascade line
    pic.io_write(0xA1, 1, 0x00)
    pic.raise_irq(12)
    assert pic.pending_vector() == 0x2C
    assert pic.acknowledge() == 0x2C
    assert pic.pending_vector() == -1 and pic.slave.isr == 0   # auto-EOI


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def program(pit, mode, count):
    pit.io_write(0x43, 1, 0x30 | (mode << 1))
    pit.io_write(0x40, 1, count & 0xFF)
    pit.io_write(0x40, 1, count >> 8)


def test_pit_rate_generator_fires_periodically():
    clock = Clock()
    pit = Pit(clock)
    assert pit.due() == 0 and pit.next_deadline() is None
    program(pit, 2, 11932)                       # 100 Hz
    assert abs(pit.period() - 0.01) < 1e-4
    clock.t = 0.0049
    assert pit.due() == 0
    clock.t = 0.0301
    assert pit.due() == 3
    assert pit.due() == 0
    assert abs(pit.next_deadline() - 4 * pit.period()) < 1e-9


def test_pit_one_shot_and_counter_latch():
    clock = Clock()
    pit = Pit(clock)
    program(pit, 0, 1193)                        # ~1 ms, mode 0
    clock.t = 0.0005
    pit.io_write(0x43, 1, 0x00)                  # latch channel 0
    clock.t = 0.0006
    latched = pit.io_read(0x40, 1) | pit.io_read(0x40, 1) << 8
    assert abs(latched - (1193 - int(0.0005 * PIT_HZ))) <= 1
    clock.t = 0.5
    assert pit.due() == 1
    clock.t = 1.0
    assert pit.due() == 0 and pit.next_deadline() is None
