# Guest CR0/CR4 under VMX: read shadows, VMX-fixed bits (SDM App. A.7-A.8)
# and guest/host masks (SDM 3C 25.6.6), and the CR-access exit (26.1.3,
# Table 28-3) emulating MOV to/from CR0/CR3/CR4/CR8, CLTS and LMSW.
# Runs on the bare-metal port and on CPython (host tests).
from hv.x86.bits import (CR0_CD, CR0_NW, CR0_PE, CR0_PG, CR0_TS, CR0_WP, CR4_PAE, CR4_VMXE,
                         EFER_LMA, EFER_LME)
from hv.vcpu.api import UnexpectedExit
from hv.vcpu.vmx import defs, fields as F
from hv.vcpu.vmx.controls import set_ia32e

_VEC_GP = 13


def set_cr0(c, value):
    """Guest CR0: the read shadow holds value, the CPU runs it with the
    VMX-fixed bits (PE and PG free under unrestricted guest)."""
    v = c.vmcs
    v.writen(F.CR0_READ_SHADOW, value)
    v.writen(F.GUEST_CR0, (value | c.cr0_fixed0) & c.caps.cr0_fixed1)


def guest_cr0(c):
    """CR0 as the guest reads it: the read shadow for the bits the host owns
    (the guest/host mask), the real CR0 for the rest (SDM 3C 25.6.6); PE and
    PG change without an exit under unrestricted guest."""
    v, m = c.vmcs, c.cr0_mask
    return v.readn(F.GUEST_CR0) & ~m | v.readn(F.CR0_READ_SHADOW) & m


def set_cr4(c, value):
    v = c.vmcs
    v.writen(F.CR4_READ_SHADOW, value)
    v.writen(F.GUEST_CR4, (value | c.caps.cr4_fixed0) & c.caps.cr4_fixed1)


def cr_access(c):
    v = c.vmcs
    cr, kind, gpr, _, lmsw_src = defs.decode_cr_access(v.readn(F.EXIT_QUALIFICATION))
    long = c.long_mode()
    ok = True
    if kind == defs.CR_ACCESS_MOV_TO:
        value = c.get_gpr(gpr)
        ok = write_cr(c, cr, value if long else value & 0xFFFFFFFF)
    elif kind == defs.CR_ACCESS_MOV_FROM:
        c.set_gpr(gpr, read_cr(c, cr) if long else read_cr(c, cr) & 0xFFFFFFFF)
    elif kind == defs.CR_ACCESS_CLTS:
        ok = write_cr(c, 0, v.readn(F.CR0_READ_SHADOW) & ~CR0_TS)
    else:
        # LMSW loads CR0[3:0] from the low 4 of its 16-bit source and can
        # set PE but not clear it (SDM 2A LMSW).
        old = v.readn(F.CR0_READ_SHADOW)
        ok = write_cr(c, 0, old & ~0xF | lmsw_src & 0xF | old & CR0_PE)
    if not ok:
        c.inject_exception(_VEC_GP, 0)
        return None
    c._skip(c)
    return None


def read_cr(c, cr):
    if cr == 3:
        return c.vmcs.readn(F.GUEST_CR3)
    if cr == 8:
        return c.tpr
    raise UnexpectedExit("MOV from CR%d exited" % cr)


def write_cr(c, cr, value):
    """Emulate MOV to CRn for the guest; False where the instruction #GPs."""
    v = c.vmcs
    if cr == 0:
        return _write_cr0(c, value)
    if cr == 4:
        if value >> 32 or value & ~c.caps.cr4_fixed1 & 0xFFFFFFFF or value & CR4_VMXE \
                or v.read64(F.GUEST_IA32_EFER) & EFER_LMA and not value & CR4_PAE:
            return False                    # VMX is hidden from the guest: VMXE #GPs
        set_cr4(c, value)
        c.flush_guest_tlb()
        return True
    if cr == 3:
        v.writen(F.GUEST_CR3, value & ~(1 << 63))   # bit 63: PCID no-flush
        if not value >> 63:
            c.flush_guest_tlb()
        return True
    if cr == 8:
        if value >> 4:
            return False
        c.tpr = value
        if c.tpr_hook is not None:      # a lower TPR may let a LAPIC interrupt through
            c.tpr_hook()
        return True
    raise UnexpectedExit("MOV to CR%d exited" % cr)


def _write_cr0(c, value):
    v = c.vmcs
    old = v.readn(F.CR0_READ_SHADOW)
    if value >> 32 or value & CR0_PG and not value & CR0_PE \
            or value & CR0_NW and not value & CR0_CD:
        return False                        # SDM 2A MOV CR: #GP(0) cases
    efer = v.read64(F.GUEST_IA32_EFER)
    if (value ^ old) & CR0_PG and efer & EFER_LME:
        # Paging on with LME sets LMA, off clears it (SDM 3A 10.8.5); the
        # "IA-32e mode guest" entry control follows LMA (27.3.1.1).
        on = bool(value & CR0_PG)
        if on and not v.readn(F.CR4_READ_SHADOW) & CR4_PAE:
            return False
        v.write64(F.GUEST_IA32_EFER, efer | EFER_LMA if on else efer & ~EFER_LMA)
        set_ia32e(c, on)
    set_cr0(c, value)
    if (value ^ old) & (CR0_PG | CR0_WP | CR0_PE):
        c.flush_guest_tlb()
    return True
