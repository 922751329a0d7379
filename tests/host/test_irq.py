# Host tests of the interrupt contract (hv.vmm.irq, hv.vmm.ticks, the 8259A
# inputs in hv.vmm.devices.pic): ISA lines fanned out to every sink, edge and
# level triggering (ICW1 LTIM, ELCR), delivery to the vCPU one vector at a
# time, and several time sources with the earliest deadline winning.
from hv.vmm.devices.pic import Pic
from hv.vmm.irq import IsaIrqs
from hv.vmm.platform import Platform
from hv.vmm.ticks import ON, Ticks
from time_fakes import Timer, Tsc

HZ = 1_000_000


class VCpu:
    def __init__(self, rflags=0x202):
        self.queue, self.rflags, self.clock = [], rflags, None

    def pending_interrupts(self):
        return len(self.queue)

    def inject_interrupt(self, vector):
        self.queue.append(vector)


class Sink:
    def __init__(self):
        self.seen = []

    def set_irq(self, line, level):
        self.seen.append((line, level))


class Source:
    """A time source that raises `line` (level) at `at` until acked."""

    def __init__(self, irqs, line, at):
        self.irqs, self.line, self.at, self.polled = irqs, line, at, []

    def next_deadline(self):
        return None if self.irqs.levels & (1 << self.line) else self.at

    def poll(self, now):
        self.polled.append(now)
        if now >= self.at:
            self.irqs.set(self.line, True)


def init_pic(pic, master=0x20, slave=0x28):
    for port, value in ((0x20, 0x11), (0x21, master), (0x21, 0x04), (0x21, 0x01), (0x21, 0x00),
                        (0xA0, 0x11), (0xA1, slave), (0xA1, 0x02), (0xA1, 0x01), (0xA1, 0x00)):
        pic.io_write(port, 1, value)


def test_every_sink_sees_each_change_once_and_changed_runs_after():
    a, b, calls = Sink(), Sink(), []
    irqs = IsaIrqs(a, b)
    irqs.changed = lambda: calls.append(irqs.levels)
    irqs.set(4, True)
    irqs.set(4, True)                                   # no change: no call
    irqs.pulse(0)
    irqs.set(4, False)
    assert a.seen == b.seen == [(4, True), (0, True), (0, False), (4, False)]
    assert calls == [0x10, 0x11, 0x10, 0]
    assert irqs.cpu is a


def test_edge_input_latches_and_level_input_follows_the_line():
    pic = Pic()
    init_pic(pic)
    pic.set_irq(3, True)
    pic.set_irq(3, False)                               # edge: latched in IRR
    assert pic.pending_vector() == 0x23
    assert pic.acknowledge() == 0x23 and pic.pending_vector() == -1
    pic.io_write(0x20, 1, 0x20)                          # EOI
    pic.io_write(0x4D0, 1, 0xFF)                         # ELCR1: IRQ 3-7 level, 0-2 stay edge
    assert pic.io_read(0x4D0, 1) == 0xF8
    pic.io_write(0x4D1, 1, 0xFF)
    assert pic.io_read(0x4D1, 1) == 0xDE                 # IRQ 8 and 13 stay edge
    pic.set_irq(5, True)
    pic.set_irq(5, False)                               # level: withdrawn before INTA
    assert pic.pending_vector() == -1
    pic.set_irq(5, True)
    assert pic.acknowledge() == 0x25
    pic.io_write(0x20, 1, 0x20)                          # EOI with the line still high: again
    assert pic.pending_vector() == 0x25
    pic.set_irq(5, False)
    assert pic.pending_vector() == -1


def test_ltim_makes_every_input_of_a_chip_level_triggered():
    pic = Pic()
    pic.set_irq(1, True)
    for port, value in ((0x20, 0x19), (0x21, 0x20), (0x21, 0x04), (0x21, 0x01), (0x21, 0x00)):
        pic.io_write(port, 1, value)                     # ICW1 with LTIM: IRR = the high lines
    assert pic.pending_vector() == 0x21
    pic.set_irq(1, False)
    assert pic.pending_vector() == -1


def test_slave_lines_arrive_through_the_cascade():
    pic = Pic()
    init_pic(pic)
    irqs = IsaIrqs(pic)
    c = VCpu()
    irqs.pulse(8)
    assert irqs.deliver(c) == 0x28 and c.queue == [0x28]
    assert pic.master.isr == 4 and pic.slave.isr == 1
    irqs.pulse(1)
    assert irqs.deliver(c) == -1                         # one queued at a time


def test_uart_thre_interrupt_reaches_the_vcpu_through_irq_4():
    p = Platform(Tsc(), lambda: HZ)
    c = VCpu()
    for port, value in ((0x20, 0x11), (0x21, 0x20), (0x21, 0x04), (0x21, 0x01), (0x21, 0xEF)):
        p.io(c, port, 1, value)                           # IRQ 4 unmasked only
    p.io(c, 0x3FC, 1, 0x08)                               # MCR OUT2: the line driver on
    p.io(c, 0x3F9, 1, 0x02)                               # IER ETBEI: THR empty at once
    assert c.queue == [0x24] and p.irqs.levels == 0x10
    assert p.io(c, 0x3FA, 1, None) & 0x0F == 0x02         # IIR: THRE, which reading clears
    assert p.irqs.levels == 0
    c.queue.clear()
    p.io(c, 0x20, 1, 0x20)                                # EOI
    p.io(c, 0x3F8, 1, ord("x"))                           # sent: THR empty again
    assert c.queue == [0x24] and p.uart.output == b"x"


def test_the_earliest_deadline_of_all_sources_arms_the_timer_and_wakes_a_halt():
    tsc, timer = Tsc(step=10), Timer()
    pic = Pic()
    init_pic(pic)
    irqs = IsaIrqs(pic)
    t = Ticks(irqs, tsc, lambda: HZ, timer)
    late, early = Source(irqs, 9, 0.5), Source(irqs, 8, 0.02)
    t.sources += [late, early]
    c = VCpu()
    assert t.counting() and t.next_deadline() == 0.02
    t.poll(c)
    assert c.queue == [] and 0.0199 < timer.armed[-1] <= 0.02
    assert late.polled == early.polled == []              # nothing due: not polled
    assert t.halted(c) and c.queue == [0x28]              # IRQ 8: the slave's first vector
    assert early.polled and not late.polled and t.clock() >= 0.02
    assert t.next_deadline() == 0.5                       # IRQ 8 still high: the RTC-like source waits


def test_no_source_armed_means_no_per_exit_clock():
    p = Platform(Tsc(), lambda: HZ)
    c = VCpu()
    p.ticks.follow(c)
    assert c.clock is p.ticks.state and c.clock[ON] == 0  # the natives stamp nothing
    for port, value in ((0x43, 0x34), (0x40, 0x9C), (0x40, 0x2E)):
        p.io(c, port, 1, value)
    assert c.clock[ON] == 1
    p.io(c, 0x43, 1, 0x30)                                # a new control word stops counter 0
    assert c.clock[ON] == 0
