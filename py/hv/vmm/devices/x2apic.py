# The local APIC's MSR interface (SDM 3A 11.12.1.2 Table 11-6, 11.4.4,
# 11.5.4.1): IA32_APIC_BASE, IA32_TSC_DEADLINE and the x2APIC registers
# 0x800-0x8FF with their rules (#GP outside x2APIC mode, on read-only and
# write-only registers, on reserved bits; ICR one 64-bit MSR; SELF IPI).
# read()/write() fit vcpu.register_msr. Pure Python.
from micropython import const
from hv.vmm.devices import apic_defs as D
from hv.x86.fault import GuestFault

IA32_APIC_BASE = const(0x1B)
_GP = const(13)
# Registers x2APIC mode has no MSR for (Table 11-6: APR, RRD, DFR, ICR high,
# CMCI as no CMCI LVT is offered).
_ABSENT = (D.APR, D.RRD, D.DFR, D.ICR_HIGH, D.LVT_CMCI)
_READ_ONLY = (D.ID, D.VERSION, D.PPR, D.LDR, D.TIMER_CCR)
_WRITE_ONLY = (D.EOI, D.SELF_IPI)


def _gp():
    raise GuestFault(_GP, 0)


class ApicMsrs:
    """The MSRs of `lapic` (hv.vmm.devices.lapic.Lapic). maxphyaddr bounds
    IA32_APIC_BASE's address field (CPUID 0x80000008 EAX[7:0])."""

    def __init__(self, lapic, maxphyaddr=36):
        self.lapic = lapic
        self.maxphyaddr = maxphyaddr
        self.numbers = (IA32_APIC_BASE, D.IA32_TSC_DEADLINE) + tuple(
            range(D.X2APIC_FIRST, D.X2APIC_LAST + 1))

    def read(self, msr):
        a = self.lapic
        if msr == IA32_APIC_BASE:
            return a.base
        if msr == D.IA32_TSC_DEADLINE:
            return a.timer.read_deadline()
        off = self._offset(msr)
        if off in _WRITE_ONLY:
            _gp()
        if off == D.ICR_LOW:
            return a.icr
        v = a.read(off)
        if v is None:
            _gp()
        return v

    def write(self, msr, value):
        a = self.lapic
        if msr == IA32_APIC_BASE:
            a.write_base(value, self.maxphyaddr)
            return
        if msr == D.IA32_TSC_DEADLINE:
            a.timer.write_deadline(value)
            return
        off = self._offset(msr)
        if off == D.ICR_LOW:
            if value & D.X2_ICR_RESERVED:
                _gp()
            a.icr = value & (0xFFFFFFFF00000000 | D.ICR_WRITABLE)
            a.send_ipi(a.icr)
            return
        if value >> 32 or off in _READ_ONLY or (off == D.ESR or off == D.EOI) and value:
            _gp()                       # ESR and EOI take only 0 (Table 11-6 notes)
        if off == D.SELF_IPI:
            if value >> 8:
                _gp()
            a.send_ipi(value | D.SH_SELF << D.ICR_SHORTHAND_SHIFT)
            return
        if not a.write(off, value):
            _gp()

    def _offset(self, msr):
        # The xAPIC offset of an x2APIC MSR; #GP outside x2APIC mode and for
        # registers x2APIC does not have (11.12.1.2).
        if not self.lapic.x2apic():
            _gp()
        off = (msr - D.X2APIC_FIRST) << 4
        if off in _ABSENT:
            _gp()
        return off
