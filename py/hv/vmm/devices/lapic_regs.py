# The local APIC's register file by offset (SDM 3A 11.4.1, Table 11-1): the
# 32-bit reads and writes the xAPIC page (lapic_page) and the x2APIC MSRs
# (x2apic) both come through, with each register's writable bits and side
# effects (EOI, ESR latch, ICR send, LVT masking, the timer's registers).
# Mixed into hv.vmm.devices.lapic.Lapic. Pure Python.
from hv.vmm.devices import apic_defs as D


class LapicRegisters:
    """Needs the Lapic's id, tpr/set_tpr(), ppr(), ldr, dfr, svr, irr, isr,
    tmr, esr, icr, lvt, timer, eoi() and send_ipi()."""

    def read(self, off):
        """A 32-bit register at `off` in the xAPIC page; None: no register there."""
        if off == D.ID:
            return self.id
        if off == D.VERSION:
            return D.VERSION_VALUE
        if off == D.TPR:
            return self.tpr
        if off == D.APR or off == D.RRD or off == D.EOI:
            return 0                    # APR: KVM reads 0; RRD: no remote reads; EOI write-only
        if off == D.PPR:
            return self.ppr()
        if off == D.LDR:
            return self.ldr
        if off == D.DFR:
            return self.dfr
        if off == D.SVR:
            return self.svr
        if D.ISR0 <= off < D.IRR0 + 0x80:
            r = self.isr if off < D.TMR0 else self.tmr if off < D.IRR0 else self.irr
            return r[(off >> 4) & 7]
        if off == D.ESR:
            return self.esr
        if off == D.ICR_LOW:
            return self.icr & 0xFFFFFFFF
        if off == D.ICR_HIGH:
            return self.icr >> 32
        if off in self.lvt:
            return self.lvt[off]
        if off == D.TIMER_ICR:
            return self.timer.icr
        if off == D.TIMER_CCR:
            return self.timer.ccr()
        if off == D.TIMER_DCR:
            return self.timer.dcr
        return None

    def write(self, off, value):
        """A 32-bit write at `off`; False: no writable register there."""
        value &= 0xFFFFFFFF
        if off == D.ID:
            self.id = value & 0xFF000000
        elif off == D.TPR:
            self.set_tpr(value)
        elif off == D.EOI:
            self.eoi()
        elif off == D.LDR:
            self.ldr = value & 0xFF000000
        elif off == D.DFR:
            self.dfr = value & D.DFR_WRITABLE | ~D.DFR_WRITABLE & 0xFFFFFFFF
        elif off == D.SVR:
            self.svr = value & D.SVR_WRITABLE
            if not value & D.SVR_ENABLE:
                for k in self.lvt:      # software disable masks every LVT (11.4.7.2)
                    self.lvt[k] |= D.LVT_MASKED
        elif off == D.ESR:
            self.esr, self._esr_pending = self._esr_pending, 0      # 11.5.3
        elif off == D.ICR_LOW:
            self.icr = self.icr & ~0xFFFFFFFF | value & D.ICR_WRITABLE
            self.send_ipi(self.icr)
        elif off == D.ICR_HIGH:
            self.icr = self.icr & 0xFFFFFFFF | (value & 0xFF000000) << 32
        elif off in self.lvt:
            self.write_lvt(off, value)
        elif off == D.TIMER_ICR:
            self.timer.write_icr(value)
        elif off == D.TIMER_DCR:
            self.timer.write_dcr(value & D.TIMER_DCR_WRITABLE)
        else:
            return False                # read-only or unimplemented
        return True

    def write_lvt(self, off, value):
        value &= D.LVT_WRITABLE[off]
        if not self.svr & D.SVR_ENABLE:
            value |= D.LVT_MASKED       # cannot be unmasked while software-disabled (11.4.7.2)
        self.lvt[off] = value | self.lvt[off] & D.LVT_REMOTE_IRR
        if off == D.LVT_TIMER:
            self.timer.set_mode(value >> D.TIMER_MODE_SHIFT & 3)
