# The local APIC's interrupt command register (SDM 3A 11.6): IPIs by
# shorthand or destination (physical, logical flat/cluster, x2APIC), fixed
# and NMI to this CPU, INIT/SIPI/SMI and IPIs to other CPUs recorded for the
# SMP to come. Mixed into hv.vmm.devices.lapic.Lapic. Pure Python.
from hv.vmm.devices import apic_defs as D


class LapicIpis:
    """Needs the Lapic's x2apic(), id, ldr, dfr, ipis, accept(), nmi(), error()."""

    def send_ipi(self, icr):
        """The ICR written (its low half, in x2APIC the whole MSR): fixed
        and NMI to this CPU by shorthand or destination, the rest recorded
        (one vCPU for now). Delivery status is never left busy."""
        mode, vector = icr >> 8 & 7, icr & 0xFF
        sh = icr >> D.ICR_SHORTHAND_SHIFT & 3
        if (mode == D.DM_FIXED or mode == D.DM_LOWEST) and vector < 16:
            self.error(D.ESR_SEND_ILLEGAL_VECTOR)
            return
        dest = icr >> 32 if self.x2apic() else icr >> 56 & 0xFF
        if sh == D.SH_SELF or sh == D.SH_ALL:
            to_self = True
        elif sh == D.SH_ALL_BUT_SELF:
            to_self = False
        else:
            to_self = self._matches(dest, icr & D.ICR_DEST_LOGICAL)
        if mode == D.DM_INIT or mode == D.DM_STARTUP or mode == D.DM_SMI or not to_self:
            # For the SMP to come: INIT (not its level de-assert), SIPI, SMI,
            # and whatever goes to other CPUs (there are none yet).
            if mode != D.DM_INIT or icr & D.ICR_LEVEL_ASSERT:
                self.ipis.append((mode, vector, dest if sh == D.SH_NONE else -sh))
            return
        if mode == D.DM_NMI:
            self.nmi()
        else:                           # fixed, lowest priority: this CPU is the lowest
            self.accept(vector, bool(icr & 1 << 15))

    def _matches(self, dest, logical):
        # Destination addressing (11.6.2): physical ID or broadcast; logical
        # flat (DFR 0xF) or cluster model against LDR.
        if self.x2apic():
            if not logical:
                return dest == 0xFFFFFFFF or dest == self.id
            ldr = self.ldr
            return dest >> 16 == ldr >> 16 and bool(dest & ldr & 0xFFFF)
        if not logical:
            return dest == 0xFF or dest == self.id >> 24
        ldr = self.ldr >> 24
        if dest == 0xFF:
            return True
        if self.dfr >> 28 == 0xF:
            return bool(dest & ldr)
        return dest >> 4 == ldr >> 4 and bool(dest & ldr & 0xF)
