# Host tests for the PC a guest sees (hv.vmm.platform, hv.vmm.devices.uart) and its
# timer ticks (hv.vmm.ticks, hv.host.timer): port routing, the COM1 model with its
# prefix, colour and input, guest time without the VMM's share, the
# lost-tick rules, the halted wait and the host's borrowed 8254.
import pytest

from hv.vmm.devices.uart import Uart
from hv.host.timer import HostTimer
from hv.vmm.platform import Platform
from hv.vmm.ticks import ARMED, DEADLINE, ON, Ticks
from hv.vmm.devices.pic import Pic
from time_fakes import Tsc

HZ = 1_000_000                       # fake TSC: one cycle per microsecond
PERIOD_100HZ = 11932                 # PIT count for 100 Hz


class Io:
    """Port writes and the host PIC mask of a fake `hw`."""

    def __init__(self):
        self.out = []
        self.imr = 0xEF              # only COM1 (IRQ 4) unmasked, as port/cpu_tables.c

    def outb(self, port, value):
        self.out.append((port, value))
        if port == 0x21:
            self.imr = value

    def inb(self, port):
        assert port == 0x21
        return self.imr


class VCpu:
    def __init__(self, rflags=0x202):
        self.queue, self.rflags = [], rflags

    def pending_interrupts(self):
        return len(self.queue)

    def inject_interrupt(self, vector):
        self.queue.append(vector)


def program_pit(p, vcpu, count=PERIOD_100HZ, mode=2):
    p.io(vcpu, 0x43, 1, 0x30 | mode << 1)            # channel 0, lo/hi, mode 2 by default
    p.io(vcpu, 0x40, 1, count & 0xFF)
    p.io(vcpu, 0x40, 1, count >> 8)


def init_pic(p, vcpu):
    for port, value in ((0x20, 0x11), (0x21, 0x20), (0x21, 0x04), (0x21, 0x01), (0x21, 0xFE)):
        p.io(vcpu, port, 1, value)


# -- COM1 -----------------------------------------------------------------------
def test_uart_prefix_colour_and_plain_output():
    got = []
    u = Uart(write=got.append)
    for b in b"hi\r\nyo":
        u.io_write(0x3F8, 1, b)
    assert b"".join(got) == b"guest| hi\r\nguest| yo" and u.output == bytearray(b"hi\r\nyo")
    got.clear()
    u = Uart(write=got.append, prefix="", colour=36)
    for b in b"a\nb":
        u.io_write(0x3F8, 1, b)
    u.end_line()
    assert b"".join(got) == b"\x1b[36ma\n\x1b[0m\x1b[36mb\x1b[0m\r\n"
    got.clear()
    u = Uart(write=got.append, prefix="", colour=None)
    for b in b"x\n\xff":
        u.io_write(0x3F8, 1, b)
    assert b"".join(got) == b"x\n\xff"                  # unchanged, bytes >= 0x80 too
    u.end_line()
    u.end_line()
    assert b"".join(got) == b"x\n\xff\r\n"              # the open line ended, once


def test_uart_input_line_status_and_divisor_latch():
    keys = [ord("k"), None]
    u = Uart(getc=lambda: keys.pop(0) if keys else None)
    assert u.io_read(0x3FD, 1) == 0x61                  # idle transmitter, data ready
    assert u.io_read(0x3FD, 1) == 0x61                  # still there: read once
    assert u.io_read(0x3F8, 1) == ord("k")
    assert u.io_read(0x3FD, 1) == 0x60 and u.io_read(0x3F8, 1) == ord("k")   # RBR keeps the last byte
    u.io_write(0x3FB, 1, 0x80)                          # DLAB: 0x3F8 is the divisor
    u.io_write(0x3F8, 1, 1)
    assert u.output == bytearray() and u.io_read(0x3F8, 1) == 1
    assert Uart().io_read(0x3FD, 1) == 0x60             # no console in the foreground


# -- routing ----------------------------------------------------------------------
def test_platform_routes_ports_and_names_them():
    p = Platform(Tsc(), lambda: HZ)
    c = VCpu()
    assert {p.names[x] for x in (0x20, 0x21, 0xA0, 0xA1)} == {"PIC"}
    assert {p.names[x] for x in (0x40, 0x43)} == {"PIT"} and p.names[0x3F8] == "COM1"
    assert p.names[0xF4] == "debug-exit" and p.names[0x80] == "POST"
    init_pic(p, c)
    assert p.io(c, 0x21, 1, None) == 0xFE and p.pic.master.vector_base == 0x20
    p.io(c, 0x80, 1, 0x12)
    assert p.io(c, 0x80, 1, None) == 0xFF and p.io(c, 0xF4, 2, None) == 0xFFFF
    p.io(c, 0xF4, 1, 7)
    assert p.debug_exit.value == 7


def test_uart_lists_the_polled_consoles_ports_while_they_do_nothing_else():
    # hv.vcpu.fastio: the natives answer LSR and take THR bytes only while
    # such an access has no other effect; the lists follow the state.
    from hv.vcpu.fastio import IN, OUT, FastIo
    got, keys = [], []
    u = Uart(getc=lambda: keys.pop(0) if keys else None, write=got.append, prefix="")
    f = FastIo()
    u.use_fast_io(f)

    def listed():
        return {(e & 0xFFFF, e >> 16 & 0xFF): e >> 24 for e in f.table if e}
    assert listed() == {(0x3FD, IN): 0x60, (0x3F8, OUT): 0} and u.polled()
    u.io_write(0x3FB, 1, 0x80)                            # DLAB: port 0x3F8 is the divisor
    assert (0x3F8, OUT) not in listed()
    u.io_write(0x3FB, 1, 0x03)
    u.io_write(0x3F9, 1, 0x02)                            # the THRE interrupt: Python's
    assert (0x3F8, OUT) not in listed()
    u.io_write(0x3F9, 1, 0x01)                            # receive interrupt only
    assert (0x3F8, OUT) in listed()
    keys.append(0x61)
    u.poll()
    assert listed()[(0x3FD, IN)] == 0x61                  # DR shows in the answer
    assert u.io_read(0x3F8, 1) == 0x61 and listed()[(0x3FD, IN)] == 0x60
    f.ring[0:3] = b"hi\n"                                 # what the natives took at THR
    f.count[0] = 3
    f.drain()
    assert bytes(u.output).endswith(b"hi\n") and got[-1] == b"hi\n" and f.count[0] == 0
    u.prefix = "g| "                                      # decorated lines: byte by byte
    f.ring[0:5] = b"a\nb\nc"
    f.count[0] = 5
    f.drain()
    assert b"".join(got[-5:]) == b"g| a\ng| b\ng| c"
    u.prefix = ""
    u.io_write(0x3FC, 1, 0x10)                            # loopback: THR feeds the receiver
    assert (0x3F8, OUT) not in listed()
    for b in b"0123456789ABCDEFG":                        # one too many for the FIFO: overrun
        u.io_write(0x3F8, 1, b)
    assert (0x3FD, IN) not in listed()                    # reading LSR would clear OE
    assert u.io_read(0x3FD, 1) & 0x02 and listed()[(0x3FD, IN)] & 0x01
    u.use_fast_io(None)
    assert listed() == {} and not u.polled()


# -- ticks ----------------------------------------------------------------------
def test_guest_time_leaves_out_the_vmm_and_stands_still_meanwhile():
    tsc = Tsc()
    p = Platform(tsc, lambda: HZ)
    t = p.ticks
    c = VCpu()
    program_pit(p, c)                                     # at 0: ON from here
    assert c.clock is t.state and t.state[ON] == 1
    tsc.t = 1000
    t.exited()                                            # the guest left at 1000 us
    tsc.t = 6000
    assert t.clock() == 0.001 and t.guest_tsc() == 1000   # frozen at the exit
    t.entering()                                          # 5 ms in the VMM: not the guest's,
    tsc.t = 7000                                          # but for the exit's charge (100 us)
    # The guest's own TSC (the natives load -STOLEN as its offset) runs on
    # the same time, so a TSC calibrated against the PIT finds HZ.
    assert t.stolen == 4900 and t.clock() == 0.0021 and t.guest_tsc() == tsc.t - 4900
    p.pit.armed_at = None                                 # no timer: nothing is counted
    t.follow(c)
    assert t.state[ON] == 0
    t.exited()
    tsc.t = 9000
    t.entering()
    assert t.stolen == 4900
    # Counter 2 counting (Linux calibrates its TSC against it) is no timer:
    # it goes on counting, and a guest polling a clock would crawl.
    p.io(c, 0x61, 1, 1)
    for port, value in ((0x43, 0xB0), (0x42, 0xFF), (0x42, 0xFF)):
        p.io(c, port, 1, value)
    assert t.state[ON] == 0


def test_an_exit_costs_the_guest_at_most_its_charge():
    # hv.vmm.ticks.EXIT_CHARGE_S (100 us): the VMM's time beyond it is left
    # out, so a guest polling a clock between exits still sees time pass.
    tsc = Tsc()
    p = Platform(tsc, lambda: HZ)
    t = p.ticks
    program_pit(p, VCpu())
    tsc.t = 1000
    t.exited()
    tsc.t = 1050                                          # 50 us: all of it the guest's
    t.entering()
    assert t.stolen == 0
    t.exited()
    tsc.t = 1350
    t.entering()
    assert t.stolen == 200


def pc_at_100hz():
    """(tsc, io, platform, vcpu): the PIC set up, the PIT at 100 Hz, the host timer on io."""
    tsc = Tsc()
    io = Io()
    p = Platform(tsc, lambda: HZ, HostTimer(io))
    c = VCpu()
    init_pic(p, c)
    program_pit(p, c)
    return tsc, io, p, c


def test_the_host_timer_is_armed_once_per_deadline():
    # Each PIC write polls the ticks (Linux: an EOI per tick, masks around
    # them); the host's PIT is reprogrammed only for a new deadline.
    tsc, io, p, c = pc_at_100hz()
    n = len(io.out)
    tsc.t = 2_000
    p.io(c, 0x21, 1, 0xFE)                                # the same mask: same deadline (10 ms)
    p.ticks.poll(c)
    assert len(io.out) == n
    tsc.t = 10_100                                        # the first tick: the next deadline is 20 ms
    p.ticks.poll(c)
    assert io.out[n:] == [(0x43, 0x34), (0x40, 9900 * 1193182 // 1_000_000 & 0xFF),
                          (0x40, 9900 * 1193182 // 1_000_000 >> 8)]


def test_the_natives_get_the_next_deadline_in_guest_tsc():
    # port/natives.h sets the host's 8254 again at an entry for host TSC
    # DEADLINE + STOLEN when VMM time moved it (ARMED: theirs): the
    # deadline as a guest TSC, never before the edge; none once stopped.
    tsc, io, p, c = pc_at_100hz()
    t = p.ticks
    t.poll(c)
    assert t.state[DEADLINE] == int(t.next_deadline() * HZ) + 1 and 10_000 <= t.state[DEADLINE] <= 10_001
    t.state[ARMED] = 12_345
    tsc.t = 10_100                                        # the first edge taken: the next, 20 ms
    t.poll(c)
    assert 20_000 <= t.state[DEADLINE] <= 20_001
    t.stop()
    assert t.state[DEADLINE] == t.state[ARMED] == 0


def test_a_pic_write_asks_the_other_timers_nothing():
    # Linux writes the PIC three times a tick (mask, EOI, unmask): a write
    # delivers what it lets through, and only a PIT edge it takes moves the
    # host timer; the other sources' deadlines stay armed as they were.
    class Source:
        asked = 0

        def next_deadline(self):
            self.asked += 1
            return 1.0

    tsc, io, p, c = pc_at_100hz()
    src = Source()
    p.ticks.sources.append(src)
    p.ticks.poll(c)
    asked, n = src.asked, len(io.out)
    tsc.t = 2_000
    p.io(c, 0x21, 1, 0xFF)                                # mask, EOI, unmask: no edge due
    p.io(c, 0x20, 1, 0x20)
    p.io(c, 0x21, 1, 0xFE)
    assert src.asked == asked and len(io.out) == n and c.queue == []
    tsc.t = 10_100                                        # the 10 ms edge, taken by an EOI
    p.io(c, 0x20, 1, 0x20)
    assert c.queue == [0x20]                              # delivered at once
    assert src.asked > asked and io.out[n:n + 1] == [(0x43, 0x34)]   # re-armed for 20 ms


def test_a_new_mask_takes_no_edge_and_an_unmask_offers_what_is_latched():
    # Linux masks IRQ 0, EOIs and unmasks it every tick: the mask writes
    # (OCW1) read no clock; an edge due meanwhile waits for the next exit.
    tsc, io, p, c = pc_at_100hz()
    p.ticks.poll(c)
    tsc.t = 10_100                                        # the 10 ms edge is due
    tsc.step = 1                                          # every clock read moves the TSC
    p.io(c, 0x21, 1, 0xFF)
    assert tsc.t == 10_100 and c.queue == [] and not p.pic.master.irr
    p.ticks.poll(c)                                       # the host timer's exit: latched, masked
    assert p.pic.master.irr == 1 and c.queue == []
    p.io(c, 0x21, 1, 0xFE)                                # the unmask lets it through at once
    assert c.queue == [0x20]


def test_ticks_reach_the_vcpu_one_at_a_time_through_the_pic():
    tsc, io, p, c = pc_at_100hz()
    assert io.out[-4:] == [(0x43, 0x34), (0x40, 11932 & 0xFF), (0x40, 11932 >> 8), (0x21, 0xEE)]
    tsc.t = 10_100                                        # first edge due at 10 ms
    p.ticks.poll(c)
    assert c.queue == [0x20] and p.pic.master.isr == 1
    tsc.t = 19_900
    p.ticks.poll(c)
    assert c.queue == [0x20]                              # one at a time
    c.queue.clear()
    p.io(c, 0x20, 1, 0x20)                                # EOI
    tsc.t = 29_950                                        # the 20 ms edge, seen late
    p.ticks.poll(c)
    assert c.queue == [0x20]
    c.queue.clear()
    tsc.t = 30_050                                        # EOI just after the 30 ms edge:
    p.io(c, 0x20, 1, 0x20)                                # that edge met IRQ 0 in service
    assert p.ticks.lost == 1 and c.queue == [] and p.pic.master.isr == 0
    tsc.t = 40_100
    p.ticks.poll(c)
    assert c.queue == [0x20]
    p.ticks.stop()
    assert io.out[-2:] == [(0x43, 0x30), (0x21, 0xEF)]   # counter stopped, IRQ 0 masked again


def first_tick_taken():
    # A PC at 100 Hz whose first tick went to the vCPU at 10.1 ms, in service.
    tsc = Tsc()
    p = Platform(tsc, lambda: HZ)
    c = VCpu()
    init_pic(p, c)
    program_pit(p, c)
    tsc.t = 10_100
    p.ticks.poll(c)
    assert c.queue == [0x20]
    c.queue.clear()
    return tsc, p, c


def test_a_slow_tick_holds_the_next_one_off_for_a_period():
    tsc, p, c = first_tick_taken()                        # injected at 10.1 ms
    tsc.t = 19_900                                        # EOI 9.8 ms later: slow
    p.io(c, 0x20, 1, 0x20)
    tsc.t = 20_100
    p.ticks.poll(c)
    assert c.queue == [] and p.ticks.lost == 1            # the 20 ms edge is dropped
    tsc.t = 30_100
    p.ticks.poll(c)
    assert c.queue == [0x20]
    c.queue.clear()
    tsc.t = 30_200                                        # a fast tick: no hold-off
    p.io(c, 0x20, 1, 0x20)
    tsc.t = 40_100
    p.ticks.poll(c)
    assert c.queue == [0x20]


def test_a_one_shot_edge_is_never_dropped_nor_held_off():
    # Linux's PIT clockevent once NO_HZ runs: mode 0, a new count from the
    # handler of each edge. An edge dropped is a guest waiting for ever.
    tsc, p, c = first_tick_taken()                        # periodic tick injected at 10.1 ms
    tsc.t = 10_200                                        # IRQ 0 in service: one shot of 1 ms
    program_pit(p, c, mode=0, count=1193)
    p.ticks.entering()                                    # the natives, at the next entry
    tsc.t = 11_300
    p.ticks.poll(c)
    assert c.queue == [] and p.pic.master.irr & 1 and p.ticks.lost == 0   # latched, as by an 8259A
    tsc.t = 12_000                                        # EOI 1.9 ms after injection: slow
    p.io(c, 0x20, 1, 0x20)
    assert c.queue == [0x20]                              # the latched edge, at once
    c.queue.clear()
    tsc.t = 12_100
    p.io(c, 0x20, 1, 0x20)
    program_pit(p, c, mode=0, count=597)                  # 0.5 ms: inside a periodic hold-off
    p.ticks.entering()
    assert p.ticks.next_deadline() < 0.0127
    tsc.t = 12_700
    p.ticks.poll(c)
    assert c.queue == [0x20] and p.ticks.lost == 0


def test_halted_guest_waits_for_its_tick_or_stops():
    tsc = Tsc(step=100)
    p = Platform(tsc, lambda: HZ)
    c = VCpu()
    assert not p.ticks.halted(c)                          # no timer: nothing will wake it
    init_pic(p, c)
    program_pit(p, c)
    assert not p.ticks.halted(VCpu(rflags=0x2))           # HLT with IF = 0
    p.ticks.exited()
    assert p.ticks.halted(c) and c.queue == [0x20]
    assert 0.010 <= p.ticks.clock() < 0.0105 and p.ticks.stolen < 1000   # the wait was guest time


def test_a_halted_wait_that_overruns_wakes_the_guest_at_its_deadline():
    # The wait's loop can overrun the deadline (a garbage collection, a slow
    # host); the guest's time goes on from the deadline, not from the
    # overrun, so its timers do not jump ahead.
    class Jumpy(Tsc):
        def __call__(self):
            self.t += 400_000 if 9_000 < self.t < 10_000 else 100   # 0.4 s in one read
            return self.t

    tsc = Jumpy()
    p = Platform(tsc, lambda: HZ)
    c = VCpu()
    init_pic(p, c)
    program_pit(p, c)
    p.ticks.exited()
    assert p.ticks.halted(c) and c.queue == [0x20]
    assert 0.010 <= p.ticks.clock() < 0.0105 and p.ticks.stolen >= 390_000


def test_host_timer_clamps_and_restores_the_mask():
    io = Io()
    t = HostTimer(io)
    assert t.arm(-1) == 60 / 1193182                      # already due: at once
    assert t.arm(1.0) == 0xFFFF / 1193182                 # beyond 55 ms: the longest count
    assert io.out == [(0x43, 0x34), (0x40, 60), (0x40, 0), (0x21, 0xEE),
                      (0x43, 0x34), (0x40, 0xFF), (0x40, 0xFF)]
    t.disarm()
    t.disarm()
    assert io.imr == 0xEF and io.out[-2:] == [(0x43, 0x30), (0x21, 0xEF)]


def test_ticks_without_a_timer_programmed_do_nothing():
    p = Platform(Tsc(), lambda: pytest.fail("no clock needed"))
    c = VCpu()
    p.ticks.poll(c)
    p.ticks.exited()
    p.ticks.entering()
    assert c.queue == [] and isinstance(p.pic, Pic)
