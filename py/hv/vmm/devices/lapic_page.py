# The local APIC's xAPIC page (SDM 3A 11.4.1): MMIO at IA32_APIC_BASE's page,
# registers 16-byte aligned and accessed as 32 bits; read()/write() fit
# vcpu.register_mmio (guest-physical address, width). Pure Python.
from hv.vmm.devices import apic_defs as D


class ApicPage:
    """The page of `lapic` (hv.vmm.devices.lapic.Lapic) at lapic.page().

    Accesses the SDM leaves model-specific get KVM's answers: a narrower
    read inside one register returns its bytes, a read across registers 0,
    a write that is not 32 bits at a register's start is dropped. A reserved
    offset reads 0 and sets ESR bit 7, "illegal register address" (11.5.3).
    While the APIC is disabled or in x2APIC mode the page reads all ones and
    drops writes (11.12.1.2; KVM's apic_mmio_read)."""

    def __init__(self, lapic):
        self.lapic = lapic

    def _live(self):
        a = self.lapic
        return a.enabled() and not a.x2apic()

    def read(self, addr, width):
        if not self._live():
            return (1 << (8 * width)) - 1
        a = self.lapic
        off = addr & 0xFFF
        shift = off & 0xF
        if shift + width > 4:
            return 0
        v = a.read(off & ~0xF)
        if v is None:
            a.error(D.ESR_ILLEGAL_REGISTER)
            return 0
        return v >> (8 * shift) & ((1 << (8 * width)) - 1)

    def write(self, addr, width, value):
        if not self._live():
            return
        a = self.lapic
        off = addr & 0xFFF
        if width != 4 or off & 0xF:
            return
        if not a.write(off, value) and a.read(off) is None:
            a.error(D.ESR_ILLEGAL_REGISTER)
