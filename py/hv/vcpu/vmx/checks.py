# VM-entry checks redone in software to name the failed one, which VMX
# reports only as error 7/8 or exit reason 33: a subset of SDM 3C 27.2
# (controls, host state) and 27.3.1 (guest state) for the state this back
# end writes. Pure over a vCPU's VMCS and caps; port and CPython.
from hv.x86.bits import CR0_PE, CR0_PG, CR4_PAE, CR4_PCIDE, EFER_LMA, EFER_LME, RFLAGS_VM
from hv.vcpu.vmx import defs, fields as F

_EFER_ALLOWED = 1 | EFER_LME | EFER_LMA | 1 << 11      # SCE, LME, LMA, NXE
_RFLAGS_RESERVED_ZERO = 0xFFFFFFFFFFC08028                # 63:22, 15, 5, 3 (27.3.1.4)
_PAT_TYPES = (0, 1, 4, 5, 6, 7)


def _controls(c, name, field, cap):
    v = c.vmcs.read32(field)
    must, may = cap & 0xFFFFFFFF, cap >> 32
    out = []
    if ~v & must:
        out.append("%s controls %#x must be 1 (allowed 0-settings)" % (name, ~v & must))
    if v & ~may & 0xFFFFFFFF:
        out.append("%s controls %#x must be 0 (allowed 1-settings)" % (name, v & ~may))
    return out


def control_failures(c):
    """Failed checks of SDM 3C 27.2.1 (VM-execution, exit, entry controls)."""
    v, k = c.vmcs, c.caps
    out = (_controls(c, "pin-based", F.PIN_BASED_VM_EXEC_CONTROL, k.pin)
           + _controls(c, "processor-based", F.CPU_BASED_VM_EXEC_CONTROL, k.cpu)
           + _controls(c, "secondary", F.SECONDARY_VM_EXEC_CONTROL, k.secondary)
           + _controls(c, "VM-exit", F.VM_EXIT_CONTROLS, k.exit)
           + _controls(c, "VM-entry", F.VM_ENTRY_CONTROLS, k.entry))
    if v.read32(F.CR3_TARGET_COUNT) > 4:
        out.append("CR3-target count is above 4")
    for name, f in (("I/O bitmap A", F.IO_BITMAP_A), ("I/O bitmap B", F.IO_BITMAP_B),
                    ("MSR bitmap", F.MSR_BITMAP)):
        if v.read64(f) & 0xFFF:
            out.append("%s address is not 4 KiB aligned" % name)
    sec = v.read32(F.SECONDARY_VM_EXEC_CONTROL)
    if sec & defs.SEC_ENABLE_EPT:
        eptp = v.read64(F.EPT_POINTER)
        memtype = eptp & 7
        if memtype not in (defs.MEMTYPE_UC, defs.MEMTYPE_WB) or not k.ept(
                defs.EPT_CAP_WB if memtype == defs.MEMTYPE_WB else defs.EPT_CAP_UC):
            out.append("EPTP memory type %d is not supported" % memtype)
        if (eptp >> 3) & 7 != 3:
            out.append("EPTP page-walk length is not 4")
        if eptp & defs.EPTP_ACCESSED_DIRTY and not k.ept(defs.EPT_CAP_ACCESSED_DIRTY):
            out.append("EPTP enables accessed/dirty flags without IA32_VMX_EPT_VPID_CAP[21]")
        if eptp & 0xF80:
            out.append("EPTP reserved bits 11:7 are set")
    elif sec & defs.SEC_UNRESTRICTED_GUEST:
        out.append("unrestricted guest without enable EPT")
    if sec & defs.SEC_ENABLE_VPID and v.read16(F.VIRTUAL_PROCESSOR_ID) == 0:
        out.append("VPID is enabled with VPID 0")
    info = v.read32(F.VM_ENTRY_INTR_INFO)
    if info & defs.INTR_VALID:
        vector, kind, err = defs.decode_intr_info(info)
        if kind == 1 or kind == 7 or kind == defs.INTR_TYPE_NMI and vector != 2 \
                or kind == defs.INTR_TYPE_HW_EXCEPTION and vector > 31:
            out.append("VM-entry interruption information %#x is not a legal event" % info)
        pe = v.readn(F.GUEST_CR0) & CR0_PE
        want = kind == defs.INTR_TYPE_HW_EXCEPTION and vector in (8, 10, 11, 12, 13, 14, 17, 21) \
            and bool(pe or not sec & defs.SEC_UNRESTRICTED_GUEST)
        if err != want:
            out.append("VM-entry deliver-error-code is %d for vector %d (27.2.1.3)" % (err, vector))
    for name, f in (("VM-exit MSR-store", F.VM_EXIT_MSR_STORE_ADDR),
                    ("VM-exit MSR-load", F.VM_EXIT_MSR_LOAD_ADDR),
                    ("VM-entry MSR-load", F.VM_ENTRY_MSR_LOAD_ADDR)):
        if v.read64(f) & 0xF:
            out.append("%s address is not 16-byte aligned" % name)
    return out


def _fixed(out, name, value, fixed0, fixed1):
    if ~value & fixed0:
        out.append("%s bits %#x must be 1 (FIXED0)" % (name, ~value & fixed0))
    if value & ~fixed1 & 0xFFFFFFFFFFFFFFFF:
        out.append("%s bits %#x must be 0 (FIXED1)" % (name, value & ~fixed1 & 0xFFFFFFFFFFFFFFFF))


def _canonical(a):
    return a < (1 << 47) or a >= 0xFFFF800000000000


def host_failures(c):
    """Failed checks of SDM 3C 27.2.2-27.2.4 (host state)."""
    v, k = c.vmcs, c.caps
    out = []
    _fixed(out, "host CR0", v.readn(F.HOST_CR0), k.cr0_fixed0, k.cr0_fixed1)
    _fixed(out, "host CR4", v.readn(F.HOST_CR4), k.cr4_fixed0, k.cr4_fixed1)
    for name, f in (("CS", F.HOST_CS_SELECTOR), ("SS", F.HOST_SS_SELECTOR),
                    ("DS", F.HOST_DS_SELECTOR), ("ES", F.HOST_ES_SELECTOR),
                    ("FS", F.HOST_FS_SELECTOR), ("GS", F.HOST_GS_SELECTOR),
                    ("TR", F.HOST_TR_SELECTOR)):
        if v.read16(f) & 7:
            out.append("host %s selector has RPL or TI set" % name)
    if v.read16(F.HOST_CS_SELECTOR) == 0:
        out.append("host CS selector is 0")
    if v.read16(F.HOST_TR_SELECTOR) == 0:
        out.append("host TR selector is 0 (needs a TSS)")
    for name, f in (("FS", F.HOST_FS_BASE), ("GS", F.HOST_GS_BASE), ("TR", F.HOST_TR_BASE),
                    ("GDTR", F.HOST_GDTR_BASE), ("IDTR", F.HOST_IDTR_BASE),
                    ("RIP", F.HOST_RIP), ("SYSENTER_ESP", F.HOST_IA32_SYSENTER_ESP),
                    ("SYSENTER_EIP", F.HOST_IA32_SYSENTER_EIP)):
        if not _canonical(v.readn(f)):
            out.append("host %s is not canonical" % name)
    exit_ctls = v.read32(F.VM_EXIT_CONTROLS)
    if exit_ctls & defs.EXIT_LOAD_IA32_EFER:
        efer = v.read64(F.HOST_IA32_EFER)
        lm = bool(exit_ctls & defs.EXIT_HOST_ADDR_SPACE_SIZE)
        if efer & ~_EFER_ALLOWED:
            out.append("host EFER reserved bits are set")
        if bool(efer & EFER_LMA) != lm or bool(efer & EFER_LME) != lm:
            out.append("host EFER.LMA/LME differ from host address-space size")
    if exit_ctls & defs.EXIT_LOAD_IA32_PAT and not _pat_ok(v.read64(F.HOST_IA32_PAT)):
        out.append("host PAT holds an invalid memory type")
    return out


def _pat_ok(pat):
    return all((pat >> (8 * i)) & 0xFF in _PAT_TYPES for i in range(8))


def _limit_ok(limit, ar):
    # 27.3.1.2: limit[11:0] not all ones -> G = 0; limit[31:20] not 0 -> G = 1.
    g = ar & defs.AR_G
    return not (limit & 0xFFF != 0xFFF and g or limit >> 20 and not g)


def guest_failures(c):
    """Failed checks of SDM 3C 27.3.1 (guest state) for the modes setup()
    writes (unrestricted guest, never virtual-8086)."""
    v, k = c.vmcs, c.caps
    out = []
    entry = v.read32(F.VM_ENTRY_CONTROLS)
    ia32e = bool(entry & defs.ENTRY_IA32E_MODE_GUEST)
    ug = v.read32(F.SECONDARY_VM_EXEC_CONTROL) & defs.SEC_UNRESTRICTED_GUEST
    cr0, cr4 = v.readn(F.GUEST_CR0), v.readn(F.GUEST_CR4)
    fixed0 = k.cr0_fixed0 & ~((CR0_PE | CR0_PG) if ug else 0)
    _fixed(out, "guest CR0", cr0, fixed0, k.cr0_fixed1)
    _fixed(out, "guest CR4", cr4, k.cr4_fixed0, k.cr4_fixed1)
    if cr0 & CR0_PG and not cr0 & CR0_PE:
        out.append("guest CR0.PG is set with CR0.PE clear")
    if ia32e and not (cr0 & CR0_PG and cr4 & CR4_PAE):
        out.append("IA-32e mode guest without CR0.PG and CR4.PAE")
    if not ia32e and cr4 & CR4_PCIDE:
        out.append("CR4.PCIDE set outside IA-32e mode")
    if entry & defs.ENTRY_LOAD_IA32_EFER:
        efer = v.read64(F.GUEST_IA32_EFER)
        if efer & ~_EFER_ALLOWED:
            out.append("guest EFER reserved bits are set")
        if bool(efer & EFER_LMA) != ia32e:
            out.append("guest EFER.LMA differs from the IA-32e mode guest control")
        if cr0 & CR0_PG and bool(efer & EFER_LME) != bool(efer & EFER_LMA):
            out.append("guest EFER.LME differs from EFER.LMA with paging on")
    if entry & defs.ENTRY_LOAD_IA32_PAT and not _pat_ok(v.read64(F.GUEST_IA32_PAT)):
        out.append("guest PAT holds an invalid memory type")
    if v.readn(F.GUEST_DR7) >> 32:
        out.append("guest DR7 bits 63:32 are set")
    out += _segment_failures(v, ia32e, cr0)
    for name, f in (("GDTR", F.GUEST_GDTR_LIMIT), ("IDTR", F.GUEST_IDTR_LIMIT)):
        if v.read32(f) >> 16:
            out.append("guest %s limit bits 31:16 are set" % name)
    rflags = v.readn(F.GUEST_RFLAGS)
    cs_l = v.read32(F.GUEST_CS_AR_BYTES) & defs.AR_L
    if not (ia32e and cs_l) and v.readn(F.GUEST_RIP) >> 32:
        out.append("guest RIP bits 63:32 are set outside 64-bit mode")
    if rflags & _RFLAGS_RESERVED_ZERO or not rflags & 2:
        out.append("guest RFLAGS reserved bits are wrong (%#x)" % rflags)
    if ia32e and rflags & RFLAGS_VM:
        out.append("guest RFLAGS.VM is set in IA-32e mode")
    activity = v.read32(F.GUEST_ACTIVITY_STATE)
    if activity > 3:
        out.append("guest activity state %d is not defined" % activity)
    intr = v.read32(F.GUEST_INTERRUPTIBILITY_INFO)
    if intr >> 5:
        out.append("guest interruptibility reserved bits are set")
    if intr & 3 == 3:
        out.append("guest blocked by both STI and MOV SS")
    if intr & defs.BLOCKING_BY_STI and not rflags & (1 << 9):
        out.append("guest blocked by STI with RFLAGS.IF clear")
    if v.read64(F.VMCS_LINK_POINTER) != 0xFFFFFFFFFFFFFFFF:
        out.append("VMCS link pointer is not 0xFFFFFFFFFFFFFFFF")
    return out


def _segment_failures(v, ia32e, cr0):
    out = []
    seg = {s[0]: v.segment(s) for s in F.SEGMENTS}
    sel, base, limit, ar = seg["tr"]
    kind = ar & defs.AR_TYPE_MASK
    if sel & 4:
        out.append("guest TR selector has TI set")
    if ar & defs.AR_UNUSABLE:
        out.append("guest TR is unusable")
    elif not (kind == 11 or kind == 3 and not ia32e) or ar & defs.AR_S or not ar & defs.AR_P:
        out.append("guest TR access rights %#x are not a present busy TSS" % ar)
    elif not _limit_ok(limit, ar):
        out.append("guest TR limit and granularity disagree")
    sel, base, limit, ar = seg["ldtr"]
    if not ar & defs.AR_UNUSABLE and (ar & defs.AR_TYPE_MASK != 2 or ar & defs.AR_S
                                      or not ar & defs.AR_P or not _limit_ok(limit, ar)):
        out.append("guest LDTR access rights %#x are not a present LDT" % ar)
    sel, base, limit, ar = seg["cs"]
    kind = ar & defs.AR_TYPE_MASK
    if ar & defs.AR_UNUSABLE or kind not in (3, 9, 11, 13, 15) or not ar & defs.AR_S \
            or not ar & defs.AR_P:
        out.append("guest CS access rights %#x are not a present accessed code segment" % ar)
    elif not _limit_ok(limit, ar):
        out.append("guest CS limit and granularity disagree")
    if ia32e and ar & defs.AR_L and ar & defs.AR_DB:
        out.append("guest CS has both L and D/B set")
    for name in ("ss", "ds", "es", "fs", "gs"):
        sel, base, limit, ar = seg[name]
        if ar & defs.AR_UNUSABLE:
            continue
        kind = ar & defs.AR_TYPE_MASK
        if not kind & 1 or kind & 8 and not kind & 2 or not ar & defs.AR_S or not ar & defs.AR_P:
            out.append("guest %s access rights %#x are not a present accessed segment"
                       % (name.upper(), ar))
        elif name == "ss" and kind not in (3, 7):
            out.append("guest SS type %d is not read/write data" % kind)
        elif not _limit_ok(limit, ar):
            out.append("guest %s limit and granularity disagree" % name.upper())
    if not cr0 & CR0_PE and (seg["ss"][3] >> defs.AR_DPL_SHIFT) & 3:
        out.append("guest SS.DPL is not 0 in real mode")
    return out
