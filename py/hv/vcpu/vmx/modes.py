# Guest state for vCPU setup(mode) on VMX (SDM 3C 25.4, checked by 27.3.1):
# real mode (CS:IP at the entry, unrestricted guest), flat 32-bit protected
# mode, and long mode identity-mapped by tables written into guest memory
# (hv.x86.guest_tables). Runs on the bare-metal port and on CPython.
from hv.x86.bits import RFLAGS_RESERVED
from hv.x86.guest_tables import SEL_CODE, gdt, gdt_limit, mode_control_regs, real_mode_entry
from hv.vcpu.vmx import defs, fields as F

_PAT_DEFAULT = 0x0007040600070406           # power-on IA32_PAT (SDM 3A 13.12.4)


def descriptor_attr(ar):
    """VMX access rights -> the descriptor-attribute word (descriptor bits
    47:40 and 55:52 packed) that hv.x86.guest_tables takes."""
    return (ar & 0xFF) | ((ar >> 12) & 0xF) << 8


def set_entry(v, mode, gpa):
    """RIP at gpa; in real mode CS:IP with IP < 64 KiB (x86_vcpu's entry)."""
    if mode != "real":
        v.writen(F.GUEST_RIP, gpa)
        return
    sel, ip = real_mode_entry(gpa)
    v.set_segment(F.SEGMENTS[1], sel, sel << 4, 0xFFFF, defs.AR_CODE16)
    v.writen(F.GUEST_RIP, ip)


def setup(v, vm, mode, tables, code_sel=SEL_CODE):
    """Write the guest segments, descriptor tables and non-register state
    for mode; protected and long mode also write a flat GDT (and long mode
    its page tables) at tables in vm. Returns (cr0, cr3, cr4, efer) as the
    guest is to see them; the caller applies the VMX-fixed bits (hv.vcpu.vmx.cr)."""
    es, cs, ss, ds, fs, gs, ldtr, tr = F.SEGMENTS
    cr0, cr3, cr4, efer = mode_control_regs(vm, mode, tables)
    if mode == "real":
        for seg in (es, ss, ds, fs, gs):
            v.set_segment(seg, 0, 0, 0xFFFF, defs.AR_DATA16)
        v.set_segment(tr, 0, 0, 0xFFFF, defs.AR_TSS_BUSY)     # usable TR (27.3.1.2)
        v.set_segment(ldtr, 0, 0, 0xFFFF, defs.AR_LDT)
        gdtr, idtr = (0, 0xFFFF), (0, 0x3FF)
    else:
        long = mode == "long"
        code = defs.AR_CODE64 if long else defs.AR_CODE32
        vm.write(tables, gdt(descriptor_attr(code), descriptor_attr(defs.AR_DATA32), code_sel))
        v.set_segment(cs, code_sel, 0, 0xFFFFFFFF, code)
        for seg in (es, ss, ds, fs, gs):
            v.set_segment(seg, code_sel + 8, 0, 0xFFFFFFFF, defs.AR_DATA32)
        v.set_segment(tr, 0, 0, 0x67, defs.AR_TSS_BUSY)
        v.set_segment(ldtr, 0, 0, 0, defs.AR_UNUSABLE)
        gdtr, idtr = (tables, gdt_limit(code_sel)), (0, 0)
    v.writen(F.GUEST_GDTR_BASE, gdtr[0])
    v.write32(F.GUEST_GDTR_LIMIT, gdtr[1])
    v.writen(F.GUEST_IDTR_BASE, idtr[0])
    v.write32(F.GUEST_IDTR_LIMIT, idtr[1])
    v.writen(F.GUEST_DR7, 0x400)
    v.writen(F.GUEST_RFLAGS, RFLAGS_RESERVED)
    v.writen(F.GUEST_RSP, 0)
    v.writen(F.GUEST_PENDING_DBG_EXCEPTIONS, 0)
    v.write32(F.GUEST_ACTIVITY_STATE, defs.ACTIVITY_ACTIVE)
    v.write32(F.GUEST_INTERRUPTIBILITY_INFO, 0)
    v.write32(F.GUEST_SYSENTER_CS, 0)
    v.writen(F.GUEST_SYSENTER_ESP, 0)
    v.writen(F.GUEST_SYSENTER_EIP, 0)
    v.write64(F.GUEST_IA32_DEBUGCTL, 0)
    v.write64(F.GUEST_IA32_PAT, _PAT_DEFAULT)
    v.write32(F.VM_ENTRY_INTR_INFO, 0)
    return cr0, cr3, cr4, efer
