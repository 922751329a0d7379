# Host tests of the PC's devices as hv.vmm.platform attaches them: the RTC at
# 0x70/0x71 with its periodic interrupt reaching the vCPU on IRQ 8 through
# the slave PIC, PIT channel 2 through port 0x61, the 8042, 0x92 and 0xCF9
# resets and ACPI S5 as run-ending reasons, PCI, fw_cfg and the CMOS memory
# size, and that nothing is built or read before the guest looks.
from hv.vmm import acpi
from hv.vmm.platform import Platform, acpi_tables
from hv.vmm.ticks import ON
from time_fakes import Tsc

HZ = 1_000_000
WALL = 1_700_000_000.25          # 2023-11-14 22:13:20.25 UTC


class VCpu:
    def __init__(self, rflags=0x202):
        self.queue, self.rflags, self.clock = [], rflags, None

    def pending_interrupts(self):
        return len(self.queue)

    def inject_interrupt(self, vector):
        self.queue.append(vector)


def pc(tsc=None, ram=64 << 20, wall=None):
    calls = []

    def host_time():
        calls.append(1)
        return WALL if wall is None else wall

    return Platform(tsc or Tsc(), lambda: HZ, None, host_time, ram), calls


def init_pics(p, c):
    for port, value in ((0x20, 0x11), (0x21, 0x20), (0x21, 0x04), (0x21, 0x01), (0x21, 0xFB),
                        (0xA0, 0x11), (0xA1, 0x28), (0xA1, 0x02), (0xA1, 0x01), (0xA1, 0xFE)):
        p.io(c, port, 1, value)                           # IRQ 2 (cascade) and 8 unmasked


def cmos(p, c, reg):
    p.io(c, 0x70, 1, reg)
    return p.io(c, 0x71, 1, None)


def test_rtc_is_built_at_first_access_from_the_host_clock():
    p, calls = pc()
    c = VCpu()
    assert calls == [] and p._rtc.dev is None             # a VM that never looks: no host read
    assert cmos(p, c, 0x0B) & 0x04 == 0                   # register B: BCD, as a BIOS leaves it
    assert calls == [1]
    assert (cmos(p, c, 0x04), cmos(p, c, 0x02), cmos(p, c, 0x00)) == (0x22, 0x13, 0x20)
    assert (cmos(p, c, 0x09), cmos(p, c, 0x08), cmos(p, c, 0x07), cmos(p, c, 0x32)) == \
        (0x23, 0x11, 0x14, 0x20)
    # CMOS memory size: 63 MiB above 1 MiB (0x17/0x18), 48 MiB above 16 MiB in 64 KiB units.
    assert cmos(p, c, 0x17) | cmos(p, c, 0x18) << 8 == 63 * 1024
    assert cmos(p, c, 0x34) | cmos(p, c, 0x35) << 8 == 48 * 16


def test_rtc_periodic_interrupt_reaches_the_vcpu_on_irq_8_and_wakes_a_halt():
    tsc = Tsc(step=5)
    p, _ = pc(tsc)
    c = VCpu()
    init_pics(p, c)
    p.ticks.follow(c)
    assert c.clock[ON] == 0
    cmos(p, c, 0x0C)                                      # PF set before PIE would raise IRQ 8 at once
    p.io(c, 0x70, 1, 0x0B)
    p.io(c, 0x71, 1, 0x42)                                # PIE, 24-hour, BCD: 1024 Hz
    assert c.clock is p.ticks.state and c.clock[ON] == 1  # a timer counts now
    assert p.ticks.halted(c) and c.queue == [0x28]
    assert 0 < p.ticks.clock() < 0.0015
    assert cmos(p, c, 0x0C) & 0xC0 == 0xC0                # IRQF and PF; reading clears them
    assert p.irqs.levels & 0x100 == 0
    c.queue.clear()
    p.io(c, 0xA0, 1, 0x20)
    p.io(c, 0x20, 1, 0x20)                                # EOI both
    assert p.ticks.halted(c) and c.queue == [0x28]        # the next period


def test_pit_channel_2_counts_and_its_out_shows_at_port_0x61():
    tsc = Tsc()
    p, _ = pc(tsc)
    c = VCpu()
    p.io(c, 0x61, 1, 0x01)                                # GATE 2 high, speaker off
    p.io(c, 0x43, 1, 0xB0)                                # channel 2, lo/hi, mode 0
    p.io(c, 0x42, 1, 0x00)
    p.io(c, 0x42, 1, 0x10)                                # 4096: 3.4 ms
    assert not p.io(c, 0x61, 1, None) & 0x20
    tsc.t = 20_000                                        # 20 ms
    p.io(c, 0x43, 1, 0x80)                                # latch channel 2
    lo, hi = p.io(c, 0x42, 1, None), p.io(c, 0x42, 1, None)
    assert p.io(c, 0x61, 1, None) & 0x20                  # OUT 2 went high at terminal count
    assert (lo | hi << 8) == (0x1000 - int(0.02 * 1193182)) % 0x10000   # wrapped, counting on


def test_resets_and_poweroff_end_the_run_with_their_reason():
    p, _ = pc()
    c = VCpu()
    assert p.io(c, 0x64, 1, 0xFE) == "Reset"
    assert p.io(c, 0x92, 1, 0x01) == "Reset"
    assert p.io(c, 0xCF9, 1, 0x06) == "Reset"
    assert p.io(c, 0xB004, 2, 5 << 10 | 0x2000) is None   # S1-ish: no such state here
    assert p.io(c, 0xB004, 2, 7 << 10 | 0x2000) == "PowerOff"


def test_pci_scan_finds_the_host_bridge_only_and_fw_cfg_knows_the_ram():
    p, _ = pc()
    c = VCpu()
    found = []
    for dev in range(32):
        p.io(c, 0xCF8, 4, 0x80000000 | dev << 11)
        v = p.io(c, 0xCFC, 4, None)
        if v != 0xFFFFFFFF:
            found.append((dev, v))
    assert found == [(0, 0x12378086)]
    p.io(c, 0x510, 2, 0x0000)
    assert bytes(p.io(c, 0x511, 1, None) for _ in range(4)) == b"QEMU"
    p.io(c, 0x510, 2, 0x0003)
    assert int.from_bytes(bytes(p.io(c, 0x511, 1, None) for _ in range(8)), "little") == 64 << 20
    assert (acpi.BASE, len(acpi_tables(False)), 3) in p.e820()
    assert len(acpi_tables(True)) > len(acpi_tables(False))     # the MADT


def test_close_drops_the_wiring_but_the_names_stay_readable():
    p, _ = pc()
    names = p.names
    p.close()
    assert p.devices == {} and p.irqs.route == [] and p.ticks.sources == []
    assert names[0x70] == "RTC" and p.names == {}


def test_console_input_wakes_a_halted_guest_through_the_uart_rx_interrupt():
    tsc = Tsc(step=5)
    p, _ = pc(tsc)
    c = VCpu()
    keys = []
    p.uart.getc = lambda: keys.pop(0) if keys and tsc() > 3000 else None   # typed after 3 ms
    keys.append(ord("k"))
    init_pics(p, c)
    p.io(c, 0x21, 1, 0xEF)                                # master: IRQ 4 only
    assert not p.ticks.halted(c)                          # no timer, no RX interrupt: for good
    p.io(c, 0x3FC, 1, 0x08)                               # OUT2
    p.io(c, 0x3F9, 1, 0x01)                               # ERBFI
    assert p.uart.waiting()
    assert p.ticks.halted(c) and c.queue == [0x24] and tsc.t > 3000
    assert p.io(c, 0x3FA, 1, None) & 0x0F == 0x04         # IIR: received data available
    assert p.io(c, 0x3F8, 1, None) == ord("k") and p.irqs.levels & 0x10 == 0
    c.queue.clear()
    p.io(c, 0x3F9, 1, 0x00)
    assert not p.uart.waiting() and not p.ticks.halted(c)
