# VMRUN's guest-state consistency checks (APM2 15.5.1, "Canonicalization and
# Consistency Checks"), re-done in software to name the one that failed:
# SVM reports only VMEXIT_INVALID. Pure over a Vmcb-like get(); runs on the
# bare-metal port and on CPython (host tests).
from hv.x86.bits import (CR0_CD, CR0_NW, CR0_PE, CR0_PG, CR4_PAE, EFER_LMA, EFER_LME,
                         EFER_NXE, EFER_SCE, EFER_SVME)
from hv.vcpu.svm import defs, vmcb as V

_CR4_KNOWN = 0x3FFFFF | 1 << 23 | 1 << 24   # CR4 bits 0-21, 23 (CET), 24 (PKS)
_EFER_KNOWN = (EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE | EFER_SVME
               | 1 << 13 | 1 << 14 | 1 << 15 | 1 << 17 | 1 << 18 | 1 << 20 | 1 << 21)
_ATTR_L, _ATTR_DB = 1 << 9, 1 << 10
_EVENT_TYPES = (defs.EVENT_TYPE_INTR, defs.EVENT_TYPE_NMI, defs.EVENT_TYPE_EXCEPTION,
                defs.EVENT_TYPE_SOFT_INT)


def vmrun_failures(vmcb):
    """Names of the 15.5.1 checks this VMCB fails (empty: none known)."""
    g = vmcb.get
    cr0, cr3, cr4, efer = g(V.CR0), g(V.CR3), g(V.CR4), g(V.EFER)
    out = []
    if not efer & EFER_SVME:
        out.append("EFER.SVME is zero")
    if cr0 & CR0_NW and not cr0 & CR0_CD:
        out.append("CR0.CD is zero and CR0.NW is set")
    if cr0 >> 32:
        out.append("CR0[63:32] are not zero")
    if cr3 >> 52:
        out.append("CR3 has MBZ bits set (63:52)")
    if cr4 & ~_CR4_KNOWN:
        out.append("CR4 has MBZ bits set (%#x)" % (cr4 & ~_CR4_KNOWN))
    if g(V.DR6) >> 32 or g(V.DR7) >> 32:
        out.append("DR6[63:32] or DR7[63:32] are not zero")
    if efer & ~_EFER_KNOWN:
        out.append("EFER has MBZ bits set (%#x)" % (efer & ~_EFER_KNOWN))
    long_paging = efer & EFER_LME and cr0 & CR0_PG
    if long_paging and not cr4 & CR4_PAE:
        out.append("EFER.LME and CR0.PG are set with CR4.PAE zero")
    if long_paging and not cr0 & CR0_PE:
        out.append("EFER.LME and CR0.PG are set with CR0.PE zero")
    attr = g(V.CS_ATTRIB)
    if long_paging and cr4 & CR4_PAE and attr & _ATTR_L and attr & _ATTR_DB:
        out.append("EFER.LME, CR0.PG, CR4.PAE, CS.L and CS.D are all set")
    if not g(V.INTERCEPT_MISC2) & defs.INTERCEPT_VMRUN:
        out.append("the VMRUN intercept bit is clear")
    if g(V.GUEST_ASID) == 0:
        out.append("ASID is zero")
    ev = g(V.EVENTINJ)
    if ev & defs.EVENT_VALID:
        kind = (ev >> defs.EVENT_TYPE_SHIFT) & 7
        if kind not in _EVENT_TYPES or kind == defs.EVENT_TYPE_EXCEPTION and ev & 0xFF in (2, 15) \
                or kind == defs.EVENT_TYPE_EXCEPTION and ev & 0xFF > 31:
            out.append("EVENTINJ is not a legal event (%#x)" % ev)
    if g(V.NP_CONTROL) & defs.NP_ENABLE and g(V.N_CR3) >> 52:
        out.append("N_CR3 has MBZ bits set")
    return out
