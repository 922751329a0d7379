# Host tests for the ACPI fixed-feature hardware model (hv.vmm.devices.acpi_pm):
# the 24-bit PM timer and its TMR_STS/SCI, PM1 status write-1-to-clear,
# enables, SCI_EN fixed on, S5 as 'PowerOff', other sleep types ignored,
# the power button, and byte/word/dword access as an OS's AML might use.
import pytest

from hv.vmm.devices.acpi_pm import PM_TIMER_HZ, AcpiPm


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def make():
    clock, lines = Clock(), []
    return clock, AcpiPm(clock, irq=lambda line, level: lines.append((line, level))), lines


def test_pm_timer_counts_at_3_579545_mhz_in_24_bits():
    clock, pm, _ = make()
    clock.t = 1.0
    assert pm.io_read(0xB008, 4) == PM_TIMER_HZ
    clock.t = 5.0                                        # 17.9 M ticks: wrapped
    assert pm.io_read(0xB008, 4) == (5 * PM_TIMER_HZ) & 0xFFFFFF
    assert pm.io_read(0xB00B, 1) == 0                     # bits 31:24 read 0
    assert pm.io_read(0xB008, 2) == (5 * PM_TIMER_HZ) & 0xFFFF
    pm.io_write(0xB008, 4, 0)                             # read-only
    assert pm.io_read(0xB008, 4) == (5 * PM_TIMER_HZ) & 0xFFFFFF


def test_timer_overflow_status_and_sci():
    clock, pm, lines = make()
    assert pm.io_read(0xB000, 2) == 0
    pm.io_write(0xB002, 2, 0x0001)                        # TMR_EN
    assert pm.next_deadline() == pytest.approx((1 << 23) / PM_TIMER_HZ)
    clock.t = pm.next_deadline()
    pm.poll(clock.t)
    assert pm.io_read(0xB000, 2) & 1 and lines == [(9, True)]
    pm.io_write(0xB000, 2, 0x0001)                        # write 1 to clear
    assert not pm.io_read(0xB000, 2) & 1 and lines == [(9, True), (9, False)]
    assert pm.next_deadline() == pytest.approx((2 << 23) / PM_TIMER_HZ)


def test_enables_keep_only_defined_bits_and_status_writes_of_zero_do_nothing():
    clock, pm, lines = make()
    pm.io_write(0xB002, 2, 0xFFFF)
    assert pm.io_read(0xB002, 2) == 0x4721
    pm.power_button()
    assert lines == [(9, True)] and pm.io_read(0xB000, 2) == 0x0100
    pm.io_write(0xB000, 2, 0x0000)
    assert pm.io_read(0xB000, 2) == 0x0100
    pm.io_write(0xB001, 1, 0x01)                          # byte write to the high half of PM1_STS
    assert pm.io_read(0xB000, 2) == 0 and lines[-1] == (9, False)


def test_s5_powers_off_and_other_sleep_types_stay_in_s0():
    clock, pm, _ = make()
    assert pm.io_read(0xB004, 2) == 0x0001                # SCI_EN: always in ACPI mode
    assert pm.io_write(0xB004, 2, 0x0000) is None
    assert pm.io_read(0xB004, 2) == 0x0001                # SCI_EN cannot be cleared
    for typ in range(7):                                 # S0 and the reserved / absent states
        assert pm.io_write(0xB004, 2, typ << 10 | 0x2000) is None
        assert pm.io_read(0xB004, 2) == typ << 10 | 0x0001   # SLP_EN reads 0
    assert pm.io_write(0xB004, 2, 7 << 10) is None        # SLP_TYP alone does nothing
    assert pm.io_write(0xB004, 2, 7 << 10 | 0x2000) == "PowerOff"
    assert pm.io_write(0xB005, 1, (7 << 2) | 0x20) == "PowerOff"   # the high byte alone
    assert pm.io_write(0xB004, 4, 7 << 10 | 0x2000) == "PowerOff"  # dword: 0xB006/7 drop the rest


def test_unused_bytes_of_the_block_read_all_ones():
    clock, pm, _ = make()
    assert 0xB006 not in pm.ports and 0xB007 not in pm.ports
    assert pm.io_read(0xB004, 4) == 0xFFFF0001
