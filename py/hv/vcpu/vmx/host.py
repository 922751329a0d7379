# The VMCS host-state area (SDM 3C 25.5, checked by 27.2.2-27.2.4): what a
# VM exit loads to come back to this port (CRs, selectors 0x08/0x10/0x18,
# bases, SYSENTER, PAT, EFER); HOST_RSP/RIP are port/vmx.asm's at each entry.
# Runs on the bare-metal port (hw, vmx natives) and on CPython (fakes).
from hv.x86.msr import (IA32_EFER, IA32_FS_BASE, IA32_GS_BASE, IA32_PAT, IA32_SYSENTER_CS,
                    IA32_SYSENTER_ESP, IA32_SYSENTER_EIP)
from hv.vcpu.vmx import fields as F


def descriptor_base(low, high):
    """Base of a 16-byte system descriptor (TSS) from its two quadwords
    (SDM 3A 8.2.3, Figure 8-4)."""
    return (((low >> 16) & 0xFFFFFF) | ((low >> 56) & 0xFF) << 24 | (high & 0xFFFFFFFF) << 32)


def write_host_state(v, io, native):
    cs, ss, ds, es, fs, gs, tr, gdt_base, _, idt_base, _ = native.host_segments()
    # RPL and TI of every host selector must be 0, CS and TR non-null
    # (27.2.3); DS/ES/FS/GS may be null in a 64-bit host.
    for f, sel in ((F.HOST_CS_SELECTOR, cs), (F.HOST_SS_SELECTOR, ss), (F.HOST_DS_SELECTOR, ds),
                   (F.HOST_ES_SELECTOR, es), (F.HOST_FS_SELECTOR, fs), (F.HOST_GS_SELECTOR, gs),
                   (F.HOST_TR_SELECTOR, tr)):
        v.write16(f, sel & 0xFFF8)
    v.writen(F.HOST_CR0, io.cr0())
    v.writen(F.HOST_CR3, io.cr3())
    v.writen(F.HOST_CR4, io.cr4())
    v.writen(F.HOST_FS_BASE, io.rdmsr(IA32_FS_BASE))   # the C stack guard lives at fs:0x28
    v.writen(F.HOST_GS_BASE, io.rdmsr(IA32_GS_BASE))
    desc = gdt_base + (tr & 0xFFF8)
    v.writen(F.HOST_TR_BASE, descriptor_base(io.read64(desc), io.read64(desc + 8)))
    v.writen(F.HOST_GDTR_BASE, gdt_base)
    v.writen(F.HOST_IDTR_BASE, idt_base)
    v.write32(F.HOST_IA32_SYSENTER_CS, io.rdmsr(IA32_SYSENTER_CS) & 0xFFFFFFFF)
    v.writen(F.HOST_IA32_SYSENTER_ESP, io.rdmsr(IA32_SYSENTER_ESP))
    v.writen(F.HOST_IA32_SYSENTER_EIP, io.rdmsr(IA32_SYSENTER_EIP))
    v.write64(F.HOST_IA32_PAT, io.rdmsr(IA32_PAT))
    v.write64(F.HOST_IA32_EFER, io.rdmsr(IA32_EFER))
