# The local APIC timer (SDM 3A 11.5.4): one-shot and periodic modes counting
# the initial count down at the bus clock over the divide configuration, and
# TSC-deadline mode (11.5.4.1) against IA32_TSC_DEADLINE. Both run on the
# guest's TSC (tsc(), tsc_hz() per second), which leaves out the VMM's time
# (hv.vmm.ticks): a slow exit path cannot bury the guest in periods. Pure
# Python.
from micropython import const
from hv.vmm.devices.apic_defs import (TIMER_ONESHOT, TIMER_PERIODIC, TIMER_TSC_DEADLINE,
                                      timer_divisor)

# The APIC bus clock the timer counts: 1 GHz, as KVM (APIC_BUS_CYCLE_NS 1)
# and QEMU report; a guest measures it (Linux calibrates against the PIT).
BUS_HZ = const(1000000000)
# KVM's shortest periodic period (lapic min_timer_period_us, 200 us): a
# guest cannot make the VMM do nothing but deliver ticks.
MIN_PERIOD_S = 0.0002


class LapicTimer:
    """mode (TIMER_*), icr, dcr, deadline as the guest wrote them; due() ->
    expirations since the last call, next_deadline() -> when the next one
    comes (tsc() cycles) or None."""

    def __init__(self, tsc, tsc_hz, bus_hz=BUS_HZ):
        self._tsc, self._tsc_hz, self.bus_hz = tsc, tsc_hz, bus_hz
        self._now = tsc
        self.reset()

    def reset(self):
        self.mode = TIMER_ONESHOT
        self.icr = 0
        self.dcr = 0
        self.deadline = 0
        self._start = None              # TSC when the count (re)started; None: stopped
        self._period = 0                # TSC cycles per expiry
        self._fired = 0                 # expirations reported since _start

    def _arm(self):
        div = timer_divisor(self.dcr)
        hz = self._tsc_hz()
        period = self.icr * div * hz // self.bus_hz
        if self.mode == TIMER_PERIODIC:
            period = max(period, int(MIN_PERIOD_S * hz))
        self._period = max(period, 1)
        self._start = self._now()
        self._fired = 0

    def set_mode(self, mode):
        """The LVT timer's mode field changed (11.5.4.1): a change between
        TSC-deadline and the count modes disarms the timer."""
        if mode == 3:
            mode = TIMER_ONESHOT        # reserved encoding: KVM treats it as one-shot
        if (mode == TIMER_TSC_DEADLINE) != (self.mode == TIMER_TSC_DEADLINE):
            self._start = None
            self.icr = 0
            self.deadline = 0
        self.mode = mode

    def write_icr(self, value):
        """Initial count: starts the count (0 stops it); ignored in
        TSC-deadline mode (11.5.4.1)."""
        if self.mode == TIMER_TSC_DEADLINE:
            return
        self.icr = value & 0xFFFFFFFF
        if self.icr:
            self._arm()
        else:
            self._start = None

    def write_dcr(self, value):
        """The divide configuration; a running count goes on at the new rate
        from its current value."""
        cur = self.ccr() if self._start is not None and self.mode != TIMER_TSC_DEADLINE else None
        self.dcr = value & 0xB
        if cur:
            self._arm()
            self._start -= (self.icr - cur) * self._period // self.icr

    def ccr(self):
        """Current count (11.5.4): 0 when stopped, after a one-shot expired,
        and in TSC-deadline mode."""
        if self._start is None or self.mode == TIMER_TSC_DEADLINE:
            return 0
        elapsed = self._now() - self._start
        icr, period = self.icr, self._period
        if self.mode == TIMER_ONESHOT:
            if elapsed >= period:
                return 0
            return icr - elapsed * icr // period
        return icr - (elapsed % period) * icr // period

    def write_deadline(self, value):
        """IA32_TSC_DEADLINE: arms at that TSC value, 0 disarms; ignored
        outside TSC-deadline mode (11.5.4.1)."""
        if self.mode != TIMER_TSC_DEADLINE:
            return
        self.deadline = value & 0xFFFFFFFFFFFFFFFF

    def read_deadline(self):
        return self.deadline if self.mode == TIMER_TSC_DEADLINE else 0

    def due(self):
        """Expirations since the last call (several periods of a periodic
        timer count as several; the LAPIC's IRR bit coalesces them). A
        one-shot fires once; a TSC deadline fires once and clears the MSR."""
        if self.mode == TIMER_TSC_DEADLINE:
            if self.deadline and self._tsc() >= self.deadline:
                self.deadline = 0
                return 1
            return 0
        start = self._start
        if start is None:
            return 0
        total = (self._now() - start) // self._period
        if self.mode == TIMER_ONESHOT:
            if total:
                self._start = None      # expired: the current count reads 0
                return 1
            return 0
        new = total - self._fired
        self._fired = total
        return new

    def next_deadline(self):
        """The TSC value of the next expiry, or None when none will come."""
        if self.mode == TIMER_TSC_DEADLINE:
            return self.deadline or None
        if self._start is None:
            return None
        return self._start + (self._fired + 1) * self._period
