# Host tests of the local APIC model (hv.vmm.devices.lapic, lapic_page,
# x2apic, lapic_timer) against SDM 3A ch. 11: IA32_APIC_BASE transitions,
# register semantics and reset values, priorities and EOI, ESR on bad
# writes, self IPIs by shorthand and destination, the x2APIC MSR rules, and
# the timer's modes counted on a fake TSC.
import pytest

from hv.vmm.devices import apic_defs as D
from hv.vmm.devices.lapic import Lapic
from hv.vmm.devices.lapic_page import ApicPage
from hv.vmm.devices.lapic_timer import BUS_HZ
from hv.vmm.devices.x2apic import IA32_APIC_BASE, ApicMsrs
from hv.x86.fault import GuestFault
from time_fakes import Tsc

TSC_HZ = 2_000_000_000          # 2 GHz: two TSC cycles per bus tick at divide 1
PAGE = 0xFEE00000


@pytest.fixture
def rig():
    tsc = Tsc(start=1000)
    a = Lapic(tsc, lambda: TSC_HZ)
    return a, ApicPage(a), ApicMsrs(a), tsc


def mm(page, off, value=None, width=4):
    if value is None:
        return page.read(PAGE + off, width)
    page.write(PAGE + off, width, value)


def enable(page):
    mm(page, D.SVR, 0x1FF)


def gp(fn, *args):
    with pytest.raises(GuestFault) as e:
        fn(*args)
    assert (e.value.vector, e.value.error_code) == (13, 0)


# -- IA32_APIC_BASE (11.4.4, 11.12.5) -------------------------------------------------
def test_reset_state(rig):
    a, page, msrs, _ = rig
    assert msrs.read(IA32_APIC_BASE) == 0xFEE00900
    assert mm(page, D.ID) == 0 and mm(page, D.VERSION) == 0x00050014
    assert mm(page, D.SVR) == 0xFF and mm(page, D.DFR) == 0xFFFFFFFF
    assert mm(page, D.TPR) == 0 and mm(page, D.PPR) == 0
    for off in (D.LVT_TIMER, D.LVT_THERMAL, D.LVT_PERF, D.LVT_LINT1, D.LVT_ERROR):
        assert mm(page, off) == 0x10000
    assert mm(page, D.LVT_LINT0) == 0x700       # virtual wire, as a BIOS leaves it
    assert Lapic(Tsc(start=1000), lambda: TSC_HZ, bsp=False).base == 0xFEE00800


def test_base_transitions(rig):
    a, page, msrs, _ = rig
    gp(msrs.write, IA32_APIC_BASE, 0xFEE00000 | D.APIC_BASE_EXTD)          # EXTD without EN
    gp(msrs.write, IA32_APIC_BASE, 0xFEE00800 | 1)                         # reserved bit 0
    gp(msrs.write, IA32_APIC_BASE, 0xFEE00800 | 1 << 9)                    # reserved bit 9
    gp(msrs.write, IA32_APIC_BASE, 0x10FEE00800)                           # above MAXPHYADDR 36
    msrs.write(IA32_APIC_BASE, 0xFEE00C00)                                 # xAPIC -> x2APIC
    assert a.x2apic() and msrs.read(IA32_APIC_BASE) == 0xFEE00D00          # BSP kept
    gp(msrs.write, IA32_APIC_BASE, 0xFEE00800)                             # x2APIC -> xAPIC
    msrs.write(IA32_APIC_BASE, 0xFEE00000)                                 # -> disabled
    assert not a.enabled()
    gp(msrs.write, IA32_APIC_BASE, 0xFEE00C00)                             # disabled -> x2APIC
    msrs.write(IA32_APIC_BASE, 0xFEF00800)                                 # -> xAPIC, moved
    assert a.page() == 0xFEF00000 and not a.x2apic()


def test_disable_resets_registers(rig):
    a, page, msrs, _ = rig
    enable(page)
    mm(page, D.TPR, 0x40)
    msrs.write(IA32_APIC_BASE, 0xFEE00000)
    assert mm(page, D.SVR) == 0xFFFFFFFF            # the page is not the APIC now
    msrs.write(IA32_APIC_BASE, 0xFEE00800)
    assert mm(page, D.SVR) == 0xFF and mm(page, D.TPR) == 0


# -- registers ------------------------------------------------------------------------
def test_register_writes_masked(rig):
    a, page, _, _ = rig
    mm(page, D.SVR, 0xFFFFFFFF)
    assert mm(page, D.SVR) == 0x3FF
    mm(page, D.TPR, 0x1234)
    assert mm(page, D.TPR) == 0x34
    mm(page, D.LDR, 0x12345678)
    assert mm(page, D.LDR) == 0x12000000
    mm(page, D.DFR, 0)
    assert mm(page, D.DFR) == 0x0FFFFFFF
    mm(page, D.LVT_TIMER, 0xFFFFFFFF)
    assert mm(page, D.LVT_TIMER) == 0x700FF
    mm(page, D.LVT_LINT0, 0xFFFFFFFF)
    assert mm(page, D.LVT_LINT0) == 0x1A7FF           # delivery status, remote IRR read-only
    mm(page, D.LVT_ERROR, 0xFFFFFFFF)
    assert mm(page, D.LVT_ERROR) == 0x100FF
    mm(page, D.TIMER_DCR, 0xFFFFFFFF)
    assert mm(page, D.TIMER_DCR) == 0xB
    mm(page, D.VERSION, 0)
    mm(page, D.PPR, 0xFF)
    assert mm(page, D.VERSION) == 0x00050014 and mm(page, D.PPR) == 0x34


def test_software_disable_masks_lvts(rig):
    a, page, _, _ = rig
    enable(page)
    mm(page, D.LVT_TIMER, 0x40)
    assert mm(page, D.LVT_TIMER) == 0x40
    mm(page, D.SVR, 0xFF)
    assert mm(page, D.LVT_TIMER) == 0x10040 and mm(page, D.LVT_LINT0) == 0x10700
    mm(page, D.LVT_TIMER, 0x41)                     # cannot be unmasked now (11.4.7.2)
    assert mm(page, D.LVT_TIMER) == 0x10041


def test_narrow_and_bad_accesses(rig):
    a, page, _, _ = rig
    enable(page)
    assert mm(page, D.VERSION, width=1) == 0x14
    assert mm(page, D.VERSION + 2, width=2) == 0x0005
    assert mm(page, D.VERSION + 2, width=4) == 0          # across registers
    assert mm(page, D.VERSION, width=8) == 0
    mm(page, D.TPR, 0x20, width=1)                        # not 32 bits: dropped
    mm(page, D.TPR + 4, 0x20)                             # not at the register: dropped
    assert mm(page, D.TPR) == 0
    assert mm(page, D.ESR) == 0
    assert mm(page, 0x40) == 0                            # reserved offset
    mm(page, 0x3F0, 5)                                    # SELF IPI is x2APIC only
    assert mm(page, D.ESR) == 0                           # latched until an ESR write
    mm(page, D.ESR, 0)
    assert mm(page, D.ESR) == D.ESR_ILLEGAL_REGISTER
    mm(page, D.ESR, 0)
    assert mm(page, D.ESR) == 0


# -- priorities, EOI --------------------------------------------------------------------
def test_delivery_by_priority_and_eoi(rig):
    a, page, _, _ = rig
    enable(page)
    eois = []
    a.eoi_sink = eois.append
    for v in (0x31, 0x62, 0x55):
        assert a.accept(v)
    a.accept(0x70, level=True)
    assert mm(page, D.IRR0 + 0x10) == 1 << 0x11 and mm(page, D.IRR0 + 0x20) == 1 << 0x15
    assert mm(page, D.IRR0 + 0x30) == 1 << 0x10 | 1 << 0x02
    mm(page, D.TPR, 0x70)
    assert a.pending() == -1 and a.blocked() == 0x70      # 0x7x not above TPR 0x70
    mm(page, D.TPR, 0x60)
    assert a.acknowledge() == 0x70
    assert mm(page, D.ISR0 + 0x30) == 1 << 0x10 and mm(page, D.TMR0 + 0x30) == 1 << 0x10
    assert mm(page, D.PPR) == 0x70 and a.pending() == -1  # 0x62 below the one in service
    mm(page, D.TPR, 0)
    mm(page, D.EOI, 0)
    assert eois == [0x70]                                  # level: broadcast to the I/O APIC
    assert a.acknowledge() == 0x62
    assert mm(page, D.PPR) == 0x60
    mm(page, D.EOI, 0)
    assert eois == [0x70]                                  # edge: no broadcast
    assert [a.acknowledge(), a.acknowledge()] == [0x55, -1]     # 0x31 below 0x55 in service
    mm(page, D.EOI, 0)
    assert [a.acknowledge(), a.acknowledge()] == [0x31, -1]
    assert mm(page, D.PPR) == 0x30


def test_illegal_vectors(rig):
    a, page, _, _ = rig
    enable(page)
    assert not a.accept(15)
    mm(page, D.ICR_LOW, 0x40000 | 3)                      # self IPI, vector 3
    mm(page, D.ESR, 0)
    assert mm(page, D.ESR) == D.ESR_RECV_ILLEGAL_VECTOR | D.ESR_SEND_ILLEGAL_VECTOR
    assert a.pending() == -1


def test_error_lvt_fires(rig):
    a, page, _, _ = rig
    enable(page)
    mm(page, D.LVT_ERROR, 0xFE)
    mm(page, 0x50, 1)
    assert a.acknowledge() == 0xFE


def test_software_disabled_accepts_nothing(rig):
    a, page, _, _ = rig
    assert not a.accept(0x40)
    enable(page)
    assert a.accept(0x40)
    mm(page, D.SVR, 0xFF)
    assert a.acknowledge() == 0x40                        # held IRR is still taken


# -- IPIs (11.6) ---------------------------------------------------------------------------
def test_self_ipis(rig):
    a, page, _, _ = rig
    enable(page)
    nmis = []
    a.nmi_sink = lambda: nmis.append(1)
    mm(page, D.ICR_LOW, 0x40000 | 0x41)                   # SELF shorthand, fixed
    assert a.acknowledge() == 0x41
    assert mm(page, D.ICR_LOW) & D.ICR_DELIVERY_STATUS == 0
    mm(page, D.ICR_LOW, 0x40000 | 0x42)
    assert a.acknowledge() == -1                          # same class as the one in service
    mm(page, D.EOI, 0)
    assert a.acknowledge() == 0x42
    mm(page, D.EOI, 0)
    mm(page, D.ICR_LOW, 0x80000 | 0x47)                   # all including self
    assert a.acknowledge() == 0x47
    mm(page, D.EOI, 0)
    mm(page, D.ICR_LOW, 0xC0000 | 0x43)                   # all but self: nobody here
    assert a.pending() == -1 and a.ipis == [(0, 0x43, -3)]
    mm(page, D.ICR_HIGH, 0x00000000)                      # physical destination 0 = this ID
    mm(page, D.ICR_LOW, 0x44)
    assert a.acknowledge() == 0x44
    mm(page, D.EOI, 0)
    mm(page, D.ICR_HIGH, 0x05000000)                      # another ID: not delivered here
    mm(page, D.ICR_LOW, 0x45)
    assert a.pending() == -1
    mm(page, D.LDR, 0x01000000)                           # logical flat: bit 0
    mm(page, D.ICR_HIGH, 0x03000000)
    mm(page, D.ICR_LOW, 0x800 | 0x46)
    assert a.acknowledge() == 0x46
    mm(page, D.ICR_LOW, 0x40000 | 0x400)                  # NMI to self
    assert nmis == [1]
    assert mm(page, D.ICR_HIGH) == 0x03000000


def test_init_sipi_recorded(rig):
    a, page, _, _ = rig
    enable(page)
    a.ipis.clear()
    mm(page, D.ICR_HIGH, 0x01000000)
    mm(page, D.ICR_LOW, 0x4500)                           # INIT assert
    mm(page, D.ICR_LOW, 0x8500)                           # INIT de-assert: not recorded
    mm(page, D.ICR_LOW, 0x0698)                           # SIPI, vector 0x98
    assert a.ipis == [(D.DM_INIT, 0, 1), (D.DM_STARTUP, 0x98, 1)]


# -- x2APIC (11.12) ---------------------------------------------------------------------
def test_x2apic_msrs(rig):
    a, page, msrs, _ = rig
    gp(msrs.read, 0x808)                                  # not in x2APIC mode
    msrs.write(IA32_APIC_BASE, 0xFEE00C00)
    assert msrs.read(0x802) == 0 and msrs.read(0x803) == 0x00050014
    assert msrs.read(0x80D) == 1                          # LDR from the ID (11.12.10.2)
    assert mm(page, D.VERSION) == 0xFFFFFFFF              # the page is gone
    msrs.write(0x80F, 0x1FF)
    msrs.write(0x808, 0x20)
    assert msrs.read(0x808) == 0x20 and msrs.read(0x80A) == 0x20
    for bad_read in (0x80B, 0x83F, 0x809, 0x80C, 0x80E, 0x831, 0x82F, 0x800, 0x8FF):
        gp(msrs.read, bad_read)
    for ro in (0x802, 0x803, 0x80A, 0x80D, 0x810, 0x820, 0x839):
        gp(msrs.write, ro, 0)
    gp(msrs.write, 0x80B, 1)                              # EOI takes only 0
    gp(msrs.write, 0x828, 1)                              # so does ESR
    gp(msrs.write, 0x808, 1 << 32)                        # upper half reserved
    gp(msrs.write, 0x83F, 0x100)                          # SELF IPI: vector only
    msrs.write(0x83F, 0x51)
    assert a.acknowledge() == 0x51
    msrs.write(0x80B, 0)
    gp(msrs.write, 0x830, 1 << 13)                        # reserved ICR bit
    msrs.write(0x830, 0x52)                               # destination 0 (this x2APIC ID)
    assert msrs.read(0x830) == 0x52 and a.acknowledge() == 0x52
    msrs.write(0x80B, 0)
    msrs.write(0x830, 7 << 32 | 0x53)                     # another CPU
    assert a.pending() == -1
    msrs.write(0x830, 0xFFFFFFFF << 32 | 0x54)            # broadcast
    assert a.acknowledge() == 0x54


# -- the timer (11.5.4) ---------------------------------------------------------------
def test_timer_one_shot(rig):
    a, page, _, tsc = rig
    enable(page)
    mm(page, D.TIMER_DCR, 0xB)                            # divide by 1
    mm(page, D.LVT_TIMER, 0x40)
    mm(page, D.TIMER_ICR, 1000)                           # 1000 bus ticks = 2000 TSC cycles
    assert mm(page, D.TIMER_CCR) == 1000
    assert a.timer.next_deadline() == tsc.t + 2000
    tsc.t += 500
    assert mm(page, D.TIMER_CCR) == 750
    a.poll_timer()
    assert a.pending() == -1
    tsc.t += 1500
    a.poll_timer()
    assert a.acknowledge() == 0x40
    assert mm(page, D.TIMER_CCR) == 0 and a.timer.next_deadline() is None
    tsc.t += 10000
    a.poll_timer()
    assert a.pending() == -1                              # once only


def test_timer_divide_and_periodic(rig):
    a, page, _, tsc = rig
    enable(page)
    assert D.timer_divisor(0) == 2 and D.timer_divisor(3) == 16 and D.timer_divisor(8) == 32
    assert D.timer_divisor(0xA) == 128 and D.timer_divisor(0xB) == 1
    mm(page, D.TIMER_DCR, 3)                              # divide by 16
    mm(page, D.LVT_TIMER, 1 << 17 | 0x41)                 # periodic
    count = 100_000                                       # 1.6 ms per period at 1 GHz / 16
    period = count * 16 * TSC_HZ // BUS_HZ
    mm(page, D.TIMER_ICR, count)
    t0 = tsc.t
    tsc.t = t0 + period // 4
    assert mm(page, D.TIMER_CCR) == count * 3 // 4
    tsc.t = t0 + period + period // 2
    a.poll_timer()
    assert a.acknowledge() == 0x41
    assert mm(page, D.TIMER_CCR) == count // 2            # reloaded
    mm(page, D.EOI, 0)
    tsc.t = t0 + 3 * period
    a.poll_timer()
    assert a.acknowledge() == 0x41
    assert a.timer.next_deadline() == t0 + 4 * period
    mm(page, D.TIMER_ICR, 0)                              # 0 stops it
    assert a.timer.next_deadline() is None and mm(page, D.TIMER_CCR) == 0


def test_timer_masked_counts_without_interrupt(rig):
    a, page, _, tsc = rig
    enable(page)
    mm(page, D.LVT_TIMER, 0x10042)
    mm(page, D.TIMER_ICR, 10)
    tsc.t += 10 ** 6
    a.poll_timer()
    assert a.pending() == -1 and mm(page, D.TIMER_CCR) == 0


def test_tsc_deadline(rig):
    a, page, msrs, tsc = rig
    enable(page)
    msrs.write(D.IA32_TSC_DEADLINE, tsc.t + 100)          # ignored outside the mode
    assert msrs.read(D.IA32_TSC_DEADLINE) == 0
    mm(page, D.LVT_TIMER, 2 << 17 | 0x43)
    mm(page, D.TIMER_ICR, 50)                             # ignored in the mode
    assert mm(page, D.TIMER_ICR) == 0 and mm(page, D.TIMER_CCR) == 0
    msrs.write(D.IA32_TSC_DEADLINE, tsc.t + 100)
    assert msrs.read(D.IA32_TSC_DEADLINE) == tsc.t + 100
    assert a.timer.next_deadline() == tsc.t + 100
    tsc.t += 99
    a.poll_timer()
    assert a.pending() == -1
    tsc.t += 1
    a.poll_timer()
    assert a.acknowledge() == 0x43
    assert msrs.read(D.IA32_TSC_DEADLINE) == 0            # disarmed once it fired
    msrs.write(D.IA32_TSC_DEADLINE, tsc.t + 100)
    mm(page, D.LVT_TIMER, 0x43)                           # leaving the mode disarms
    assert a.timer.next_deadline() is None


def test_cr8_is_tpr(rig):
    a, page, _, _ = rig
    cr8 = [0]
    a.cr8 = (lambda: cr8[0], lambda v: cr8.__setitem__(0, v))
    mm(page, D.TPR, 0x5A)
    assert cr8 == [5] and mm(page, D.TPR) == 0x5A
    cr8[0] = 3                                            # MOV CR8 clears TPR[3:0] (11.8.6.1)
    assert mm(page, D.TPR) == 0x30
