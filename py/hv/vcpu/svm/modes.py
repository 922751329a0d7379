# Guest state for vCPU setup(mode) on SVM: the VMCB state save area (APM2
# Table B-2) for real mode (CS:IP at the entry), 32-bit protected mode (flat
# segments, paging off) and long mode (64-bit, identity-mapped by tables
# written into guest memory, hv.x86.guest_tables). Runs on the bare-metal port
# and on CPython (host tests).
from hv.x86.bits import EFER_SVME, RFLAGS_RESERVED
from hv.x86.guest_tables import SEL_CODE, gdt, gdt_limit, mode_control_regs, real_mode_entry
from hv.vcpu.svm import defs, vmcb as V

_PAT_DEFAULT = 0x0007040600070406           # power-on IA32_PAT (APM2 7.8.2)


def set_entry(vmcb, mode, gpa):
    """RIP at gpa; in real mode CS:IP with IP < 64 KiB (x86_vcpu's entry)."""
    if mode != "real":
        vmcb.set(V.RIP, gpa)
        return
    sel, ip = real_mode_entry(gpa)
    vmcb.set_segment(V.CS, sel, sel << 4, 0xFFFF, defs.ATTR_CODE16)
    vmcb.set(V.RIP, ip)


def setup(v, vm, mode, tables, code_sel=SEL_CODE):
    """Write the state save area for mode; protected and long mode also
    write a flat GDT (and long mode its page tables) at tables in vm."""
    s = v.set
    for name, seg in V.SEGMENTS:
        v.set_segment(seg, 0, 0, 0, 0)
    cr0, cr3, cr4, efer = mode_control_regs(vm, mode, tables)
    efer |= EFER_SVME                       # guest EFER.SVME must be 1 (15.5.1)
    if mode == "real":
        for seg in (V.ES, V.SS, V.DS, V.FS, V.GS):
            v.set_segment(seg, 0, 0, 0xFFFF, defs.ATTR_DATA16)
        v.set_segment(V.IDTR, 0, 0, 0x3FF, 0)
        v.set_segment(V.GDTR, 0, 0, 0xFFFF, 0)
        v.set_segment(V.TR, 0, 0, 0xFFFF, defs.ATTR_TSS)
        v.set_segment(V.LDTR, 0, 0, 0xFFFF, defs.ATTR_LDT)
    else:
        long = mode == "long"
        code = defs.ATTR_CODE64 if long else defs.ATTR_CODE32
        vm.write(tables, gdt(code, defs.ATTR_DATA32, code_sel))
        v.set_segment(V.GDTR, 0, tables, gdt_limit(code_sel), 0)
        v.set_segment(V.CS, code_sel, 0, 0xFFFFFFFF, code)
        for seg in (V.ES, V.SS, V.DS, V.FS, V.GS):
            v.set_segment(seg, code_sel + 8, 0, 0xFFFFFFFF, defs.ATTR_DATA32)
        v.set_segment(V.TR, 0, 0, 0x67, defs.ATTR_TSS)  # not checked by VMRUN; sane anyway
        v.set_segment(V.LDTR, 0, 0, 0, 0)
    s(V.CPL, 0)
    s(V.EFER, efer)
    s(V.CR0, cr0)                            # CD = NW = 0: NW without CD is illegal (15.5.1)
    s(V.CR3, cr3)
    s(V.CR4, cr4)
    s(V.RFLAGS, RFLAGS_RESERVED)
    s(V.DR6, 0xFFFF0FF0)
    s(V.DR7, 0x400)
    s(V.G_PAT, _PAT_DEFAULT)
    s(V.RSP, 0)
