# Host tests for the CMOS RTC model (hv.vmm.devices.rtc, rtc_time, cmos_map)
# and the host CMOS reader (hv.host.rtc), through ports 0x70/0x71 as a guest
# uses them: time from the host, BCD/binary and 12/24 h, calendar rollover,
# UIP timing, update/alarm/periodic interrupts on IRQ 8, SET and the divider,
# the NMI mask bit, and the PC's memory-size bytes.
import calendar

import pytest

from hv.host.rtc import read_epoch
from hv.vmm.devices import cmos_map, rtc_time
from hv.vmm.devices.rtc import Rtc


class Clock:
    def __init__(self, t=100.0):
        self.t = t

    def __call__(self):
        return self.t


def wall(y, mo, d, h=0, mi=0, s=0):
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))


def make(when, frac=0.0):
    clock, lines = Clock(), []
    rtc = Rtc(clock, lambda: when + frac, irq=lambda line, level: lines.append((line, level)))
    return clock, rtc, lines


def rd(rtc, reg):
    rtc.io_write(0x70, 1, reg)
    return rtc.io_read(0x71, 1)


def wr(rtc, reg, value):
    rtc.io_write(0x70, 1, reg)
    rtc.io_write(0x71, 1, value)


def time_regs(rtc):
    return tuple(rd(rtc, r) for r in (9, 8, 7, 4, 2, 0))


# -- time from the host, formats, calendar ----------------------------------------
def test_time_comes_from_the_host_in_bcd_24h_and_ticks_on_guest_time():
    clock, rtc, _ = make(wall(2026, 12, 2, 13, 45, 30), frac=0.25)
    assert time_regs(rtc) == (0x26, 0x12, 0x02, 0x13, 0x45, 0x30)
    assert rd(rtc, 0x32) == 0x20 and rd(rtc, 6) == 4             # a Wednesday
    assert rd(rtc, 0x0A) == 0x26 and rd(rtc, 0x0B) == 0x02 and rd(rtc, 0x0D) == 0x80
    clock.t += 0.74
    assert rd(rtc, 0) == 0x30
    clock.t += 0.02                                             # 0.76 s: the host's next second
    assert rd(rtc, 0) == 0x31
    clock.t += 3600 * 11                                        # past midnight
    assert time_regs(rtc) == (0x26, 0x12, 0x03, 0x00, 0x45, 0x31) and rd(rtc, 6) == 5


@pytest.mark.parametrize("start, after", [
    (wall(2026, 12, 31, 23, 59, 59), (0x27, 0x01, 0x01, 0x00, 0x00, 0x00)),
    (wall(2028, 2, 28, 23, 59, 59), (0x28, 0x02, 0x29, 0x00, 0x00, 0x00)),   # leap year
    (wall(2100, 2, 28, 23, 59, 59), (0x00, 0x03, 0x01, 0x00, 0x00, 0x00)),   # 2100 is not
    (wall(2099, 12, 31, 23, 59, 59), (0x00, 0x01, 0x01, 0x00, 0x00, 0x00)),
])
def test_calendar_rollover(start, after):
    clock, rtc, _ = make(start)
    clock.t += 1.0
    assert time_regs(rtc) == after
    if start == wall(2099, 12, 31, 23, 59, 59):
        assert rd(rtc, 0x32) == 0x21


def test_guest_sets_binary_12h_time_with_set_and_it_runs_from_there():
    clock, rtc, _ = make(wall(2026, 1, 1))
    wr(rtc, 0x0B, 0x80 | 0x04)                                  # SET, binary, 12-hour
    for reg, v in ((9, 30), (8, 6), (7, 15), (4, 11), (2, 59), (0, 58), (6, 7)):
        wr(rtc, reg, v)
    clock.t += 5.0                                              # SET: no updates
    assert time_regs(rtc) == (30, 6, 15, 11, 59, 58)
    wr(rtc, 0x0B, 0x04)
    clock.t += 2.0
    assert time_regs(rtc) == (30, 6, 15, 0x80 | 12, 0, 0)       # 12:00:00 PM
    assert rd(rtc, 6) == 7                                      # noon: the day of week stays
    wr(rtc, 0x0B, 0x80 | 0x04)
    wr(rtc, 4, 0x80 | 11)
    wr(rtc, 2, 59)
    wr(rtc, 0, 59)
    wr(rtc, 0x0B, 0x04)
    clock.t += 1.0
    assert time_regs(rtc) == (30, 6, 16, 12, 0, 0) and rd(rtc, 6) == 1   # 12 AM, next day: 7 -> 1


def test_invalid_time_stands_still_but_update_cycles_still_end():
    clock, rtc, _ = make(wall(2026, 1, 1))
    wr(rtc, 0, 0x7A)                                            # not BCD
    rd(rtc, 0x0C)
    clock.t += 3.0
    assert rd(rtc, 0) == 0x7A and rd(rtc, 0x0C) & 0x10


# -- UIP, SET and the divider --------------------------------------------------
def test_uip_is_set_for_2228_us_before_each_update():
    clock, rtc, _ = make(wall(2026, 1, 1), frac=0.5)
    assert not rd(rtc, 0x0A) & 0x80
    clock.t = 100.5 - 0.0023
    assert not rd(rtc, 0x0A) & 0x80
    clock.t = 100.5 - 0.0022
    assert rd(rtc, 0x0A) & 0x80 and rd(rtc, 0) == 0x00
    clock.t = 100.5
    assert not rd(rtc, 0x0A) & 0x80 and rd(rtc, 0) == 0x01
    clock.t = 101.4985
    wr(rtc, 0x0B, 0x82)                                         # SET clears UIP
    assert not rd(rtc, 0x0A) & 0x80


def test_a_kernel_waiting_for_the_uip_edges_finds_them():
    # The classic get_cmos_time() wait: UIP rising, then falling.
    clock, rtc, _ = make(wall(2026, 1, 1), frac=0.3)
    polls = 0
    for want in (True, False):
        while bool(rd(rtc, 0x0A) & 0x80) != want:
            clock.t += 0.0001
            polls += 1
            assert polls < 20000
    assert abs(clock.t - 100.7) < 0.001 and rd(rtc, 0) == 0x01


def test_a_poll_of_register_a_slower_than_the_uip_window_still_sees_each_update():
    # Under Bochs the VMM makes each read a few ms of guest time apart: the
    # 2.2 ms window fell between reads, a kernel's wait for UIP missed one
    # update after another, and pcdev.asm read seconds 41 after setting 30.
    clock, rtc, _ = make(wall(2026, 1, 1), frac=0.3013)        # updates at 100.6987 + k
    seen = []
    for _ in range(600):                                        # 3 s of polls, 5 ms apart
        clock.t += 0.005
        if rd(rtc, 0x0A) & 0x80:
            seen.append((round(clock.t, 3), rd(rtc, 0x0A) & 0x80, rd(rtc, 0)))
    # Once per update, the first read after it; the read after that: UIP low, the new second.
    assert seen == [(100.7, 0, 0x01), (101.7, 0, 0x02), (102.7, 0, 0x03)]
    clock.t += 5                                                # not polling: no late UIP
    assert not rd(rtc, 0x0A) & 0x80
    wr(rtc, 0x0B, 0x82)                                         # nor with SET
    clock.t += 1
    assert not rd(rtc, 0x0A) & 0x80


def test_an_update_inhibited_by_set_shows_no_late_uip_after_set_clears():
    # pcdev.asm's binary-mode check: it waits for an update, sets the time
    # under SET, clears SET and waits for the next update. When the second
    # boundary fell while SET was held (no update ran), the late UIP above
    # showed that non-update: the wait ended at once on seconds 30, not 31.
    clock, rtc, _ = make(wall(2026, 1, 1), frac=0.3013)        # updates at 100.6987 + k
    clock.t = 100.698
    assert rd(rtc, 0x0A) & 0x80
    clock.t = 100.701
    assert not rd(rtc, 0x0A) & 0x80                             # the update seen
    clock.t = 101.69
    wr(rtc, 0x0B, 0x86)                                         # SET, binary, 24 h
    for reg, v in ((4, 12), (2, 0), (0, 30)):
        wr(rtc, reg, v)
    clock.t = 101.71                                            # the boundary passed under SET
    wr(rtc, 0x0B, 0x06)
    clock.t = 101.72
    assert not rd(rtc, 0x0A) & 0x80 and rd(rtc, 0) == 30
    clock.t = 102.698
    assert rd(rtc, 0x0A) & 0x80
    clock.t = 102.701
    assert not rd(rtc, 0x0A) & 0x80 and rd(rtc, 0) == 31


def test_divider_reset_holds_time_and_first_update_is_half_a_second_after_release():
    clock, rtc, _ = make(wall(2026, 1, 1), frac=0.9)
    wr(rtc, 0x0A, 0x66)                                         # DV = 110: reset
    clock.t += 10
    assert rd(rtc, 0) == 0x00 and not rd(rtc, 0x0A) & 0x80
    wr(rtc, 0x0A, 0xA6)                                         # back to 010 (UIP is read-only)
    assert rd(rtc, 0x0A) == 0x26
    clock.t += 0.49
    assert rd(rtc, 0) == 0x00
    clock.t += 0.02
    assert rd(rtc, 0) == 0x01


# -- interrupts on IRQ 8 ---------------------------------------------------------
def test_update_ended_interrupt_until_register_c_is_read():
    clock, rtc, lines = make(wall(2026, 1, 1), frac=0.5)
    assert rtc.next_deadline() is None                          # nothing enabled
    wr(rtc, 0x0B, 0x02 | 0x10)                                  # UIE
    assert rtc.next_deadline() == pytest.approx(100.5)
    rtc.poll(100.49)
    assert lines == []
    rtc.poll(100.5)
    assert lines == [(8, True)] and rtc.next_deadline() is None  # line high until C is read
    # IRQF, UF, and PF: the 1024 Hz periodic flag is set whatever PIE says.
    assert rd(rtc, 0x0C) == 0xD0 and lines == [(8, True), (8, False)]
    assert rd(rtc, 0x0C) == 0x00
    assert rtc.next_deadline() == pytest.approx(101.5)


def test_set_clears_uie_and_enabling_with_a_flag_pending_raises_irq8():
    clock, rtc, lines = make(wall(2026, 1, 1))
    wr(rtc, 0x0B, 0x12)
    wr(rtc, 0x0B, 0x92)
    assert rd(rtc, 0x0B) == 0x82
    wr(rtc, 0x0B, 0x02)
    clock.t += 1.0
    assert lines == []                                          # UF set, UIE off: no IRQ
    wr(rtc, 0x0B, 0x12)
    assert lines == [(8, True)]


def test_periodic_interrupt_at_1024_hz():
    clock, rtc, lines = make(wall(2026, 1, 1), frac=0.5)       # the chain started at 100.0
    wr(rtc, 0x0B, 0x02 | 0x40)                                  # PIE, RS = 6 (BIOS default)
    t0 = rtc.next_deadline()
    assert t0 == pytest.approx(100 + 1 / 1024)
    rtc.poll(t0)
    assert lines == [(8, True)] and rd(rtc, 0x0C) == 0xC0
    assert rtc.next_deadline() == pytest.approx(100 + 2 / 1024)
    wr(rtc, 0x0A, 0x2F)                                         # RS = 15: 2 Hz
    assert rtc.next_deadline() == pytest.approx(100.5)
    wr(rtc, 0x0A, 0x21)                                         # RS = 1 repeats RS = 8: 256 Hz
    assert rtc.next_deadline() == pytest.approx(100 + 1 / 256)
    wr(rtc, 0x0A, 0x20)                                         # RS = 0: none
    assert rtc.next_deadline() is None


def test_alarm_fires_when_the_time_matches():
    clock, rtc, lines = make(wall(2026, 1, 1, 8, 30, 0), frac=0.5)
    wr(rtc, 5, 0x08)
    wr(rtc, 3, 0x30)
    wr(rtc, 1, 0x03)
    wr(rtc, 0x0B, 0x02 | 0x20)                                  # AIE
    assert rtc.next_deadline() == pytest.approx(102.5)          # 08:30:03
    rtc.poll(101.6)
    assert lines == [] and not rd(rtc, 0x0C) & 0x20
    rtc.poll(102.5)
    assert lines == [(8, True)] and rd(rtc, 0x0C) == 0x80 | 0x40 | 0x20 | 0x10   # IRQF PF AF UF
    wr(rtc, 5, 0xC0)                                            # "don't care" hour and minute
    wr(rtc, 3, 0xFF)
    assert rtc.next_deadline() == pytest.approx(162.5)          # 08:31:03
    wr(rtc, 1, 0x75)                                            # no such second: never
    assert rtc.next_deadline() is None
    clock.t += 100
    assert not rd(rtc, 0x0C) & 0x20


def test_alarm_matched_while_nobody_looked_is_still_flagged():
    clock, rtc, _ = make(wall(2026, 1, 1, 23, 59, 0))
    for reg in (5, 3):
        wr(rtc, reg, 0x00)
    wr(rtc, 1, 0x00)                                            # 00:00:00
    clock.t += 3600
    assert rd(rtc, 0x0C) & 0x20


@pytest.mark.parametrize("sod, alarm, want", [
    (0, (None, None, None), 1),
    (59, (None, None, 0), 1),
    (3600 * 8 + 1800, (8, 30, 0), 86400),
    (86399, (0, 0, 0), 1),
    (100, (None, 5, None), 300 - 100),
    (3600 * 23 + 60 * 59 + 59, (23, None, None), 3600 * 23 + 1),
    (0, (-1, None, None), None),
])
def test_seconds_to_alarm(sod, alarm, want):
    assert rtc_time.seconds_to_alarm(sod, *alarm) == want


# -- the index port, registers C/D, memory ------------------------------------------
def test_index_port_nmi_bit_read_only_registers_and_cmos_ram():
    clock, rtc, _ = make(wall(2026, 1, 1))
    rtc.io_write(0x70, 1, 0x80 | 0x40)
    assert rtc.nmi_masked and rtc.index == 0x40
    rtc.io_write(0x71, 1, 0x5A)
    assert rtc.io_read(0x71, 1) == 0x5A and rtc.io_read(0x70, 1) == 0xFF
    rtc.io_write(0x70, 1, 0x40)
    assert not rtc.nmi_masked
    wr(rtc, 0x0D, 0x00)
    wr(rtc, 0x0C, 0xFF)
    assert rd(rtc, 0x0D) == 0x80 and rd(rtc, 0x0C) == 0x00
    wr(rtc, 0x7F, 0x11)
    assert rd(rtc, 0x7F) == 0x11 and len(rtc.nvram) == 128


@pytest.mark.parametrize("below, above, ext, above16, above4g", [
    (128 << 20, 0, 0xFFFF, 0x0700, 0),
    (8 << 20, 0, 7168, 0, 0),
    (3 << 30, 3 << 30, 0xFFFF, 0xBF00, 0xC000),
    (6 << 30, 0, 0xFFFF, 0xFFFF, 0),                            # more than the fields hold
])
def test_pc_memory_size_bytes(below, above, ext, above16, above4g):
    clock, rtc, _ = make(wall(2026, 1, 1))
    cmos_map.fill_pc(rtc.nvram, below, above, cpus=1)

    def word(at):
        return rd(rtc, at) | rd(rtc, at + 1) << 8
    assert word(0x15) == 640 and word(0x17) == ext and word(0x30) == ext
    assert word(0x34) == above16
    assert rd(rtc, 0x5B) | rd(rtc, 0x5C) << 8 | rd(rtc, 0x5D) << 16 == above4g
    assert rd(rtc, 0x5F) == 0 and rd(rtc, 0x14) == 0x02
    assert rd(rtc, 0x2E) << 8 | rd(rtc, 0x2F) == sum(rd(rtc, r) for r in range(0x10, 0x2E))


# -- the host's CMOS as the time source -----------------------------------------------
def host_io(rtc):
    return (lambda port: rtc.io_read(port, 1)), (lambda port, v: rtc.io_write(port, 1, v))


def test_host_reader_decodes_a_cmos_clock_in_any_format():
    for b in (0x02, 0x06, 0x00, 0x04):                          # BCD/binary x 24/12 hour
        clock, rtc, _ = make(wall(2026, 7, 4, 15, 0, 9))
        wr(rtc, 0x0B, 0x80 | b)
        rtc.io_write(0x70, 1, 0)
        fmt = Rtc(clock, lambda: wall(2026, 7, 4, 15, 0, 9))
        fmt.nvram[0x0B] = b
        fmt._write_time(wall(2026, 7, 4) // 86400, 15 * 3600 + 9)
        for reg in (0, 2, 4, 6, 7, 8, 9, 0x32):
            wr(rtc, reg, fmt.nvram[reg])
        wr(rtc, 0x0B, b)
        assert read_epoch(*host_io(rtc)) == wall(2026, 7, 4, 15, 0, 9)
    wr(rtc, 0x0B, 0x82)
    wr(rtc, 8, 0x13)                                            # month 13
    with pytest.raises(RuntimeError):
        read_epoch(*host_io(rtc))
