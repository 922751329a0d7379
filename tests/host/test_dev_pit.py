# Host tests for the 8254 PIT model (hv.vmm.devices.pit, pit_counter) and port
# 0x61 (hv.vmm.devices.port61), driven through their ports as a guest drives
# them: modes 0-5 with GATE, the latch and read-back commands, BCD, access
# modes, IRQ 0 pulses, and Linux's TSC calibration loops against counter 2.
import pytest

from hv.vmm.devices.pit import PIT_HZ, Pit
from hv.vmm.devices.port61 import Port61


class Clock:
    """Guest seconds; at(k) puts it in the middle of PIT tick k."""

    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def at(self, ticks):
        self.t = (ticks + 0.5) / PIT_HZ


def make():
    clock = Clock()
    return clock, Pit(clock)


def control(pit, counter, rw, mode, bcd=0):
    pit.io_write(0x43, 1, counter << 6 | rw << 4 | mode << 1 | bcd)


def load(pit, counter, count, rw=3):
    port = 0x40 + counter
    if rw in (1, 3):
        pit.io_write(port, 1, count & 0xFF)
    if rw in (2, 3):
        pit.io_write(port, 1, count >> 8 & 0xFF)


def read16(pit, counter):
    port = 0x40 + counter
    return pit.io_read(port, 1) | pit.io_read(port, 1) << 8


def latched(pit, counter):
    pit.io_write(0x43, 1, counter << 6)            # counter latch command
    return read16(pit, counter)


def status(pit, counter):
    pit.io_write(0x43, 1, 0xE0 | 2 << counter)      # read-back: status only
    return pit.io_read(0x40 + counter, 1)


# -- mode 0: interrupt on terminal count ---------------------------------------
def test_mode0_out_rises_at_terminal_count_and_the_counter_wraps():
    clock, pit = make()
    control(pit, 0, 3, 0)
    assert not pit.out(0) and pit.next_deadline() is None
    load(pit, 0, 1000)
    assert latched(pit, 0) == 1000 and pit.armed_at == 0.0
    clock.at(999)
    assert latched(pit, 0) == 1 and not pit.out(0) and pit.due() == 0
    clock.at(1000)
    assert pit.out(0) and latched(pit, 0) == 0 and pit.due() == 1
    clock.at(1003)
    assert latched(pit, 0) == 0xFFFD and pit.out(0)      # keeps counting, OUT stays high
    clock.at(70000)
    assert pit.due() == 0 and pit.next_deadline() is None   # one edge per count written


def test_mode0_first_byte_of_a_word_stops_counting_and_drops_out():
    clock, pit = make()
    control(pit, 0, 3, 0)
    load(pit, 0, 100)
    clock.at(200)
    assert pit.out(0) and pit.due() == 1
    pit.io_write(0x40, 1, 0x10)                          # LSB only: counting stops, OUT low
    assert not pit.out(0)
    clock.at(300)
    assert latched(pit, 0) == (100 - 200) & 0xFFFF       # held where it stopped
    pit.io_write(0x40, 1, 0x00)                          # MSB: 0x0010 loads now
    clock.at(305)
    assert latched(pit, 0) == 11
    clock.at(316)
    assert pit.out(0) and pit.due() == 1


def test_mode0_gate_low_pauses_the_count():
    clock, pit = make()
    control(pit, 2, 3, 0)                                # counter 2: GATE low at reset
    load(pit, 2, 500)
    clock.at(400)
    assert read16(pit, 2) == 500 and not pit.out(2)      # loaded, not counting
    pit.set_gate(2, True)
    clock.at(600)
    pit.set_gate(2, False)
    clock.at(5000)
    assert read16(pit, 2) == 300
    pit.set_gate(2, True)
    clock.at(5299)
    assert not pit.out(2)
    clock.at(5300)
    assert pit.out(2)


def test_count_zero_is_the_largest_count_in_binary_and_bcd():
    clock, pit = make()
    control(pit, 0, 3, 2)
    load(pit, 0, 0)
    assert pit.period() == 65536 / PIT_HZ
    control(pit, 0, 3, 2, bcd=1)
    load(pit, 0, 0)
    assert pit.period() == 10000 / PIT_HZ


# -- modes 1 and 5: GATE-triggered ---------------------------------------------
def test_mode1_retriggerable_one_shot_on_gate_edges():
    clock, pit = make()
    control(pit, 2, 3, 1)
    load(pit, 2, 100)
    assert pit.out(2) and status(pit, 2) & 0x40          # high, count not loaded yet
    clock.at(50)
    pit.set_gate(2, True)                                # trigger
    assert not pit.out(2) and not status(pit, 2) & 0x40
    clock.at(120)
    pit.set_gate(2, False)                               # a falling edge changes nothing
    pit.set_gate(2, True)                                # retrigger at 120: OUT low for 100 more
    clock.at(219)
    assert not pit.out(2)
    clock.at(220)
    assert pit.out(2)
    load(pit, 2, 10)                                     # a new count waits for the next trigger
    clock.at(230)
    assert pit.out(2)
    pit.set_gate(2, False)
    pit.set_gate(2, True)
    clock.at(239)
    assert not pit.out(2) and read16(pit, 2) == 1
    clock.at(240)
    assert pit.out(2)


def test_mode5_strobe_after_trigger():
    clock, pit = make()
    control(pit, 2, 3, 5)
    load(pit, 2, 20)
    clock.at(100)
    assert pit.out(2)                                    # no trigger, no strobe
    pit.set_gate(2, True)
    clock.at(119)
    assert pit.out(2)
    clock.at(120)
    assert not pit.out(2)                                # low for the one CLK at CE = 0
    clock.at(121)
    assert pit.out(2)


# -- mode 2: rate generator ---------------------------------------------------
def test_mode2_counts_down_pulses_low_and_reloads():
    clock, pit = make()
    control(pit, 0, 3, 2)
    load(pit, 0, 10)
    assert [latched(pit, 0) for _ in range(1)] == [10]
    values, outs = [], []
    for k in range(21):
        clock.at(k)
        values.append(latched(pit, 0))
        outs.append(pit.out(0))
    assert values == [10, 9, 8, 7, 6, 5, 4, 3, 2, 1] * 2 + [10]
    assert outs == ([True] * 9 + [False]) * 2 + [True]
    assert pit.due() == 2 and abs(pit.next_deadline() - 30 / PIT_HZ) < 1e-12


def test_mode2_new_count_takes_effect_at_the_end_of_the_period():
    clock, pit = make()
    control(pit, 0, 3, 2)
    load(pit, 0, 100)
    clock.at(150)
    load(pit, 0, 40)
    assert status(pit, 0) & 0x40 and latched(pit, 0) == 50   # old period still running
    clock.at(199)
    assert latched(pit, 0) == 1
    clock.at(200)
    assert latched(pit, 0) == 40 and not status(pit, 0) & 0x40
    assert pit.due() == 2
    clock.at(280)
    assert pit.due() == 2 and abs(pit.next_deadline() - 320 / PIT_HZ) < 1e-12


def test_mode2_gate_low_holds_out_high_and_rising_gate_reloads():
    clock, pit = make()
    control(pit, 2, 3, 2)
    load(pit, 2, 10)
    assert pit.out(2) and read16(pit, 2) == 10           # GATE 2 is low: no counting
    clock.at(100)
    pit.set_gate(2, True)
    clock.at(109)
    assert not pit.out(2)
    pit.set_gate(2, False)                               # low during the pulse: OUT high at once
    assert pit.out(2)
    clock.at(500)
    assert read16(pit, 2) == 1
    pit.set_gate(2, True)
    assert read16(pit, 2) == 10


def test_modes_6_and_7_are_2_and_3_and_status_shows_what_was_written():
    clock, pit = make()
    pit.io_write(0x43, 1, 0x3C)                          # counter 0, word, mode 6, binary
    load(pit, 0, 4)
    clock.at(3)
    assert not pit.out(0) and status(pit, 0) == 0x3C     # OUT low, count loaded
    pit.io_write(0x43, 1, 0x7F)                          # counter 1, word, mode 7, BCD
    assert status(pit, 1) == 0xC0 | 0x3F                 # OUT high, null count


# -- mode 3: square wave --------------------------------------------------------
@pytest.mark.parametrize("n, high, values", [
    (8, 4, [8, 6, 4, 2, 8, 6, 4, 2]),
    (7, 4, [6, 4, 2, 0, 6, 4, 2]),
])
def test_mode3_square_wave_even_and_odd(n, high, values):
    clock, pit = make()
    control(pit, 0, 3, 3)
    load(pit, 0, n)
    outs, vals = [], []
    for k in range(n):
        clock.at(k)
        outs.append(pit.out(0))
        vals.append(latched(pit, 0))
    assert outs == [True] * high + [False] * (n - high) and vals == values
    clock.at(10 * n)
    assert pit.due() == 10


# -- mode 4: software triggered strobe ------------------------------------------
def test_mode4_strobes_once_n_clocks_after_the_count():
    clock, pit = make()
    control(pit, 0, 3, 4)
    load(pit, 0, 50)
    assert pit.out(0) and abs(pit.next_deadline() - 51 / PIT_HZ) < 1e-12
    clock.at(50)
    assert not pit.out(0) and pit.due() == 0
    clock.at(51)
    assert pit.out(0) and pit.due() == 1
    clock.at(66000)
    assert pit.out(0) and pit.due() == 0 and pit.next_deadline() is None


# -- latches, read-back, access modes, BCD --------------------------------------
def test_counter_latch_holds_until_read_and_ignores_a_second_latch():
    clock, pit = make()
    control(pit, 1, 3, 2)
    load(pit, 1, 1000)
    clock.at(100)
    pit.io_write(0x43, 1, 0x40)
    clock.at(200)
    pit.io_write(0x43, 1, 0x40)                          # ignored: the first is unread
    assert read16(pit, 1) == 900
    assert read16(pit, 1) == 800                         # live again after the latch is read


def test_read_back_latches_status_then_count_of_several_counters():
    clock, pit = make()
    control(pit, 0, 3, 2)
    load(pit, 0, 300)
    control(pit, 1, 1, 0)                                # LSB only
    load(pit, 1, 0x77, rw=1)
    clock.at(100)
    pit.io_write(0x43, 1, 0xC0 | 0x06)                   # count and status of counters 0 and 1
    clock.at(250)
    assert pit.io_read(0x40, 1) == 0x80 | 0x34           # OUT high, loaded, word mode 2
    assert read16(pit, 0) == 200
    assert pit.io_read(0x41, 1) == 0x10                  # mode 0, LSB only, OUT low
    assert pit.io_read(0x41, 1) == 0x77 - 100
    assert pit.io_read(0x41, 1) == (0x77 - 250) & 0xFF   # live


def test_msb_only_access_and_bcd_counting():
    clock, pit = make()
    control(pit, 0, 2, 2)
    load(pit, 0, 0x1200, rw=2)
    assert pit.period() == 0x1200 / PIT_HZ
    clock.at(0x100)
    assert pit.io_read(0x40, 1) == 0x11
    control(pit, 0, 3, 2, bcd=1)
    load(pit, 0, 0x1000)                                 # BCD 1000
    assert pit.period() == 1000 / PIT_HZ
    clock.at(0x100 + 1)
    assert latched(pit, 0) == 0x0999
    clock.at(0x100 + 345)
    assert latched(pit, 0) == 0x0655


def test_command_port_reads_open_bus_and_malformed_counts_do_not_raise():
    clock, pit = make()
    assert pit.io_read(0x43, 1) == 0xFF
    control(pit, 0, 3, 2)
    load(pit, 0, 1)                                      # illegal in mode 2 (minimum 2)
    control(pit, 0, 3, 3)
    load(pit, 0, 1)
    control(pit, 0, 3, 2, bcd=1)
    load(pit, 0, 0xFFFF)                                 # not BCD digits
    for k in range(5):
        clock.at(k)
        pit.out(0), latched(pit, 0), status(pit, 0)
    pit.io_write(0x43, 1, 0xC1)                          # read-back of no counter
    assert pit.io_read(0x42, 1) == 0 and pit.io_read(0x42, 1) == 0


# -- IRQ 0, and counter 0 for hv.vmm.ticks --------------------------------------
def test_poll_pulses_irq0_once_for_edges_that_came_together():
    clock = Clock()
    got = []
    pit = Pit(clock, irq=lambda line, level: got.append((line, level)))
    pit.poll(0.0)
    assert got == [] and pit.armed_at is None
    control(pit, 0, 3, 2)
    load(pit, 0, 1193)
    pit.poll(0.0)
    assert got == []
    pit.poll(0.0035)                                     # three edges due
    assert got == [(0, True), (0, False)]
    pit.poll(0.0035)
    assert len(got) == 2
    pit.armed_at = None                                  # stop counter 0 (hv.vmm.ticks' tests)
    assert pit.next_deadline() is None
    with pytest.raises(ValueError):
        pit.armed_at = 1.0


# -- port 0x61 and TSC calibration ----------------------------------------------
def test_port61_gates_counter2_and_shows_its_out():
    clock, pit = make()
    p61 = Port61(pit)
    assert p61.io_read(0x61, 1) & 0x21 == 0
    p61.io_write(0x61, 1, 0xF3)                          # read-only bits ignored
    assert p61.value == 0x03 and pit.counters[2].gate
    control(pit, 2, 3, 0)
    load(pit, 2, 100)
    clock.at(99)
    assert p61.io_read(0x61, 1) & 0xE3 == 0x03
    clock.at(100)
    assert p61.io_read(0x61, 1) & 0xE3 == 0x23
    p61.io_write(0x61, 1, 0x00)
    assert not pit.counters[2].gate


def test_port61_refresh_bit_toggles_with_guest_time():
    clock, pit = make()
    p61 = Port61(pit)
    seen = []
    for k in range(0, 18 * 6, 9):
        clock.at(k)
        seen.append(p61.io_read(0x61, 1) >> 4 & 1)
    assert seen == [0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1]


def test_linux_pit_calibrate_tsc_sees_out2_after_the_latch_time():
    # arch/x86/kernel/tsc.c pit_calibrate_tsc(): GATE 2 high, speaker off,
    # counter 2 mode 0 with a 10 ms count, then spin on port 0x61 bit 5.
    clock, pit = make()
    p61 = Port61(pit)
    p61.io_write(0x61, 1, (p61.io_read(0x61, 1) & ~0x02) | 0x01)
    pit.io_write(0x43, 1, 0xB0)
    latch = PIT_HZ // 100
    pit.io_write(0x42, 1, latch & 0xFF)
    pit.io_write(0x42, 1, latch >> 8)
    loops = 0
    while not p61.io_read(0x61, 1) & 0x20:
        clock.t += 1e-5
        loops += 1
        assert loops < 10000
    assert 0.0099 < clock.t < 0.0101


def test_linux_quick_pit_calibrate_reads_a_falling_msb():
    # tsc.c quick_pit_calibrate(): mode 0 count 0xFFFF, then pit_expect_msb()
    # reads LSB and MSB of counter 2 and waits for the MSB to step down.
    clock, pit = make()
    Port61(pit).io_write(0x61, 1, 0x01)
    pit.io_write(0x43, 1, 0xB0)
    pit.io_write(0x42, 1, 0xFF)
    pit.io_write(0x42, 1, 0xFF)
    msbs = []
    for k in range(0, 256 * 8, 64):
        clock.at(k)
        pit.io_read(0x42, 1)
        msbs.append(pit.io_read(0x42, 1))
    assert msbs == sorted(msbs, reverse=True) and msbs[0] == 0xFF and msbs[-1] == 0xF8
