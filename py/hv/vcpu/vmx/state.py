# VMX guest registers and state as the arch-neutral API and the instruction
# emulator (hv.vcpu.mmio, strio) read them: GPRs (RSP in the VMCS), RIP,
# RFLAGS, CR2 (switched by port/vmx.asm), mode, segments, CPL (guest-state
# area, SDM 3C 25.4). Mixed into VmxVCpu; bare metal and CPython (host tests).
from hv.x86 import regs
from hv.x86.bits import EFER_LMA, RFLAGS_RESERVED
from hv.vcpu.vmx import cr, defs, fields as F


class VmxState:
    def get_gpr(self, n):
        if n == regs.RSP:
            return self._vmcs().readn(F.GUEST_RSP)
        return self.gprs[n]

    def put_rax(self, value):
        """RAX := value, already in 0..2**64-1 (the hot paths: no mask)."""
        self.gprs[regs.RAX] = value

    def set_gpr(self, n, value):
        if value < 0 or value >> 64:        # no big-int mask on the common path
            value &= regs.MASK64
        if n == regs.RSP:
            self._vmcs().writen(F.GUEST_RSP, value)
        else:
            self.gprs[n] = value

    @property
    def rip(self):
        return self._vmcs().readn(F.GUEST_RIP)

    @rip.setter
    def rip(self, value):
        self._vmcs().writen(F.GUEST_RIP, value)

    @property
    def cr2(self):
        """The guest's CR2: not in the VMCS (SDM 3C 25.4.1), so port/vmx.asm
        switches it around each entry, from and into the register file."""
        return self.gprs[regs.CR2]

    @cr2.setter
    def cr2(self, value):
        self.gprs[regs.CR2] = value & regs.MASK64

    @property
    def rflags(self):
        return self._vmcs().readn(F.GUEST_RFLAGS)

    @rflags.setter
    def rflags(self, value):
        self._vmcs().writen(F.GUEST_RFLAGS, value | RFLAGS_RESERVED)

    def long_mode(self):
        """64-bit code: EFER.LMA and CS.L (SDM 3A 5.2.1)."""
        v = self._vmcs()
        return bool(v.read64(F.GUEST_IA32_EFER) & EFER_LMA
                    and v.read32(F.GUEST_CS_AR_BYTES) & defs.AR_L)

    def code_bits(self):
        """The code size: 64 (IA32_EFER.LMA and CS.L), 32 (CS.D) or 16 (SDM 3A 5.2.1)."""
        v = self.vmcs
        ar = v.read32(F.GUEST_CS_AR_BYTES)
        if ar & defs.AR_L and v.read64(F.GUEST_IA32_EFER) & EFER_LMA:
            return 64
        return 32 if ar & defs.AR_DB else 16

    def seg_base(self, seg):
        """Base of segment register seg (ES=0 ... GS=5: the encodings'
        order, SDM 3C App. B.4.3)."""
        return self.vmcs.readn(F.GUEST_ES_BASE + 2 * seg)

    def cpl(self):
        return (self.vmcs.read32(F.GUEST_SS_AR_BYTES) >> defs.AR_DPL_SHIFT) & 3   # 25.4.1

    def paging_regs(self):
        """CR0, CR3, CR4 and EFER the processor walks with (not the read shadows)."""
        v = self.vmcs
        return (v.readn(F.GUEST_CR0), v.readn(F.GUEST_CR3), v.readn(F.GUEST_CR4),
                v.read64(F.GUEST_IA32_EFER))

    def set_cr2(self, value):
        """The guest's CR2: VM entry and exit leave CR2 alone (it is not in
        the guest-state area, SDM 3C 25.4.1), so the guest runs with the
        processor's; nothing in the host between here and the entry faults."""
        self.io.cr2(value)

    def clear_shadow(self):
        v = self.vmcs
        s = v.read32(F.GUEST_INTERRUPTIBILITY_INFO)
        if s & (defs.BLOCKING_BY_STI | defs.BLOCKING_BY_MOV_SS):
            v.write32(F.GUEST_INTERRUPTIBILITY_INFO, s & ~3)

    def insn_bytes(self):
        return None                         # VMX reports no instruction bytes: fetch them

    def control_regs(self):
        """(cr0, cr3, cr4, efer, code size): CR0 and CR4 as the guest reads
        them, its bits from the read shadows where the host owns them (25.6.6)."""
        v = self._vmcs()
        cr0 = cr.guest_cr0(self)
        cr4 = v.readn(F.GUEST_CR4) & ~self.cr4_mask | v.readn(F.CR4_READ_SHADOW) & self.cr4_mask
        efer = v.read64(F.GUEST_IA32_EFER)
        ar = v.read32(F.GUEST_CS_AR_BYTES)
        bits = 64 if ar & defs.AR_L and efer & EFER_LMA else 32 if ar & defs.AR_DB else 16
        return cr0, v.readn(F.GUEST_CR3), cr4, efer, bits
