# The VM-execution, VM-exit and VM-entry control fields a vCPU starts with
# (SDM 3C 25.6-25.8), each adjusted to this CPU's capability MSRs (App.
# A.3-A.5) by hv.vcpu.vmx.percpu.adjust_controls, and the CR0/CR4 guest/host
# masks. Runs on the bare-metal port and on CPython (host tests).
from hv.x86.bits import CR0_PE, CR0_PG
from hv.vcpu.vmx import defs, fields as F, percpu

_VEC_UD = 6
_EXCEPTIONS = 1 << _VEC_UD                  # #UD: VMMCALL on Intel (exits.exception_nmi)

PIN = defs.PIN_EXTERNAL_INTERRUPT_EXITING | defs.PIN_NMI_EXITING
# Virtual NMIs: an injected NMI blocks the next until the guest's IRET, and
# NMI-window exiting says when (SDM 3C 24.6.1, 25.3, 26.7.6).
PIN_OPTIONAL = defs.PIN_VIRTUAL_NMIS
CPU = (defs.CPU_HLT_EXITING | defs.CPU_CR8_LOAD_EXITING | defs.CPU_CR8_STORE_EXITING
       | defs.CPU_USE_IO_BITMAPS | defs.CPU_USE_MSR_BITMAPS | defs.CPU_MWAIT_EXITING
       | defs.CPU_MONITOR_EXITING | defs.CPU_ACTIVATE_SECONDARY
       | defs.CPU_TSC_OFFSETTING)                # guest TSC = host TSC + TSC_OFFSET (hv.vmm.ticks)
SECONDARY = defs.SEC_ENABLE_EPT | defs.SEC_UNRESTRICTED_GUEST
SECONDARY_OPTIONAL = (defs.SEC_ENABLE_VPID | defs.SEC_ENABLE_RDTSCP | defs.SEC_ENABLE_INVPCID
                      | defs.SEC_ENABLE_XSAVES)
# 64-bit host, the vector taken from the PIC by the exit (28.2.2), guest
# EFER/PAT saved and the host's loaded.
EXIT = (defs.EXIT_HOST_ADDR_SPACE_SIZE | defs.EXIT_ACK_INTERRUPT_ON_EXIT
        | defs.EXIT_SAVE_IA32_EFER | defs.EXIT_LOAD_IA32_EFER | defs.EXIT_SAVE_IA32_PAT
        | defs.EXIT_LOAD_IA32_PAT)
ENTRY = defs.ENTRY_LOAD_IA32_EFER | defs.ENTRY_LOAD_IA32_PAT


def write_controls(c):
    """Fill c's VMCS control fields from c.caps and c's bitmaps, MSR areas
    and VPID; sets c.secondary, c.entry_controls and the CR masks."""
    k, v = c.caps, c.vmcs
    adjust = percpu.adjust_controls
    pin = adjust(k.pin, PIN, PIN_OPTIONAL, what="pin-based")
    v.write32(F.PIN_BASED_VM_EXEC_CONTROL, pin)
    c.virtual_nmis = bool(pin & defs.PIN_VIRTUAL_NMIS) and k.can(k.cpu, defs.CPU_NMI_WINDOW_EXITING)
    v.write32(F.CPU_BASED_VM_EXEC_CONTROL, adjust(k.cpu, CPU, what="processor-based"))
    c.secondary = adjust(k.secondary, SECONDARY, SECONDARY_OPTIONAL, what="secondary")
    v.write32(F.SECONDARY_VM_EXEC_CONTROL, c.secondary)
    v.write32(F.VM_EXIT_CONTROLS, adjust(k.exit, EXIT, what="VM-exit"))
    c.entry_controls = adjust(k.entry, ENTRY, what="VM-entry")
    v.write32(F.VM_ENTRY_CONTROLS, c.entry_controls)
    v.write32(F.EXCEPTION_BITMAP, _EXCEPTIONS)
    v.write32(F.PAGE_FAULT_ERROR_CODE_MASK, 0)
    v.write32(F.PAGE_FAULT_ERROR_CODE_MATCH, 0)
    v.write32(F.CR3_TARGET_COUNT, 0)
    # CR0/CR4 bits VMX fixes are the host's (25.6.6): the guest reads its
    # own value from the read shadow; writes that differ there exit.
    ug = c.secondary & defs.SEC_UNRESTRICTED_GUEST
    c.cr0_fixed0 = k.cr0_fixed0 & ~((CR0_PE | CR0_PG) if ug else 0)
    c.cr0_mask = (c.cr0_fixed0 | ~k.cr0_fixed1) & 0xFFFFFFFF
    c.cr4_mask = (k.cr4_fixed0 | ~k.cr4_fixed1) & 0xFFFFFFFF
    v.writen(F.CR0_GUEST_HOST_MASK, c.cr0_mask)
    v.writen(F.CR4_GUEST_HOST_MASK, c.cr4_mask)
    v.write64(F.IO_BITMAP_A, c.io_bitmaps.pa)
    v.write64(F.IO_BITMAP_B, c.io_bitmaps.pa_b)
    v.write64(F.MSR_BITMAP, c.msr_bitmap.pa)
    a = c.msr_areas
    v.write64(F.VM_EXIT_MSR_STORE_ADDR, a.guest_pa)
    v.write64(F.VM_ENTRY_MSR_LOAD_ADDR, a.guest_pa)
    v.write64(F.VM_EXIT_MSR_LOAD_ADDR, a.host_pa)
    for f in (F.VM_EXIT_MSR_STORE_COUNT, F.VM_ENTRY_MSR_LOAD_COUNT, F.VM_EXIT_MSR_LOAD_COUNT):
        v.write32(f, a.count)
    if c.secondary & defs.SEC_ENABLE_XSAVES:
        v.write64(F.XSS_EXIT_BITMAP, 0)
    if c.vpid is not None:
        v.write16(F.VIRTUAL_PROCESSOR_ID, c.vpid)
    v.write64(F.VMCS_LINK_POINTER, 0xFFFFFFFFFFFFFFFF)     # no shadow VMCS (27.3.1.5)
    v.write64(F.TSC_OFFSET, 0)
    v.write32(F.VM_ENTRY_INTR_INFO, 0)


def set_ia32e(c, on):
    """The "IA-32e mode guest" entry control, which must equal the guest's
    EFER.LMA (SDM 3C 27.3.1.1)."""
    e = c.entry_controls
    c.entry_controls = e | defs.ENTRY_IA32E_MODE_GUEST if on else e & ~defs.ENTRY_IA32E_MODE_GUEST
    c.vmcs.write32(F.VM_ENTRY_CONTROLS, c.entry_controls)
