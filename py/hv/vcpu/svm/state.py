# SVM guest registers and state as the arch-neutral API and the instruction
# emulator (hv.vcpu.mmio, strio) read them: GPRs (RAX and RSP in the VMCB),
# RIP, RFLAGS, CR2, mode, segments, CPL (VMCB state save area, APM2 Table
# B-2). Mixed into SvmVCpu; bare metal and CPython (host tests).
from micropython import const
from hv.x86 import regs
from hv.x86.bits import EFER_LMA, EFER_SVME, RFLAGS_RESERVED
from hv.vcpu.svm import vmcb as V

_RAX_FIELD = const(0x805F8)                 # vmcb.RAX


class SvmState:
    def get_gpr(self, n):
        if n == regs.RAX:
            return self.vmcb.get(V.RAX)
        if n == regs.RSP:
            return self.vmcb.get(V.RSP)
        return self.gprs[n]

    def put_rax(self, value):
        """RAX := value, already in 0..2**64-1 (the hot paths: no mask)."""
        V.write(self._pa, _RAX_FIELD, value)

    def set_gpr(self, n, value):
        if value < 0 or value >> 64:        # no big-int mask on the common path
            value &= regs.MASK64
        if n == regs.RAX:
            self.vmcb.put(V.RAX, value)
        elif n == regs.RSP:
            self.vmcb.put(V.RSP, value)
        else:
            self.gprs[n] = value

    @property
    def rip(self):
        return self.vmcb.get(V.RIP)

    @rip.setter
    def rip(self, value):
        self.vmcb.put(V.RIP, value)

    @property
    def cr2(self):
        """The guest's CR2, which VMRUN and #VMEXIT switch (VMCB save area,
        APM2 Table B-2)."""
        return self.vmcb.get(V.CR2)

    @cr2.setter
    def cr2(self, value):
        self.vmcb.put(V.CR2, value & regs.MASK64)

    @property
    def rflags(self):
        return self.vmcb.get(V.RFLAGS)

    @rflags.setter
    def rflags(self, value):
        self.vmcb.put(V.RFLAGS, value | RFLAGS_RESERVED)

    def long_mode(self):
        """64-bit code: EFER.LMA and CS.L (APM2 4.8.1)."""
        return bool(self.vmcb.get(V.EFER) & EFER_LMA and self.vmcb.get(V.CS_ATTRIB) & 0x200)

    def code_bits(self):
        """The code size: 64 (EFER.LMA and CS.L), 32 (CS.D) or 16 (APM2 4.8.1)."""
        pa = self._pa
        cs = V.read(pa, V.CS_ATTRIB)        # L is bit 9, D/B bit 10 (Table B-2)
        if cs & 0x200 and V.read(pa, V.EFER) & EFER_LMA:
            return 64
        return 32 if cs & 0x400 else 16

    def seg_base(self, seg):
        """Base of segment register seg (ES=0 ... GS=5: the VMCB's order, Table B-2)."""
        return V.read(self._pa, V.seg_base(V.ES + 16 * seg))

    def cpl(self):
        return V.read(self._pa, V.CPL)

    def paging_regs(self):
        pa = self._pa
        return V.read(pa, V.CR0), V.read(pa, V.CR3), V.read(pa, V.CR4), V.read(pa, V.EFER)

    def set_cr2(self, value):
        """The guest's CR2, which VMRUN loads from the VMCB (Table B-2)."""
        self.vmcb.put(V.CR2, value)

    def clear_shadow(self):
        V.write(self._pa, V.INTERRUPT_STATE, 0)

    def insn_bytes(self):
        """The bytes of the instruction behind a #NPF as the CPU fetched
        them (decode assists, APM2 15.33: the count in bits 3:0 of VMCB
        0x0D0, the bytes at 0x0D1; 0 when the fetch failed), or None."""
        if not self.decode_assists:
            return None
        n = V.read(self._pa, V.INSN_BYTES_FETCHED) & 0xF
        if not n:
            return None
        return self.io.mem(self._pa + V.INSN_BYTES, n)

    def control_regs(self):
        """(cr0, cr3, cr4, efer without SVME, code size) from the VMCB."""
        v = self.vmcb
        cs = v.get(V.CS_ATTRIB)             # L is bit 9, D/B bit 10 (15.5.1)
        efer = v.get(V.EFER) & ~EFER_SVME
        bits = 64 if cs & 0x200 and efer & EFER_LMA else 32 if cs & 0x400 else 16
        return v.get(V.CR0), v.get(V.CR3), v.get(V.CR4), efer, bits
