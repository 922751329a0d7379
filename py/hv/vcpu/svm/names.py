# SVM names for reports and errors (AMD APM Vol. 2, Appendix C Table C-1:
# exit codes). The encodings themselves are in hv.vcpu.svm.defs. Pure; bare
# metal and CPython.
from hv.vcpu.svm import defs

_NAMES = {
    0x60: "INTR", 0x61: "NMI", 0x62: "SMI", 0x63: "INIT", 0x64: "VINTR",
    0x65: "CR0_SEL_WRITE", 0x66: "IDTR_READ", 0x67: "GDTR_READ", 0x68: "LDTR_READ",
    0x69: "TR_READ", 0x6A: "IDTR_WRITE", 0x6B: "GDTR_WRITE", 0x6C: "LDTR_WRITE",
    0x6D: "TR_WRITE", 0x6E: "RDTSC", 0x6F: "RDPMC", 0x70: "PUSHF", 0x71: "POPF",
    0x72: "CPUID", 0x73: "RSM", 0x74: "IRET", 0x75: "SWINT", 0x76: "INVD",
    0x77: "PAUSE", 0x78: "HLT", 0x79: "INVLPG", 0x7A: "INVLPGA", 0x7B: "IOIO",
    0x7C: "MSR", 0x7D: "TASK_SWITCH", 0x7E: "FERR_FREEZE", 0x7F: "SHUTDOWN",
    0x80: "VMRUN", 0x81: "VMMCALL", 0x82: "VMLOAD", 0x83: "VMSAVE", 0x84: "STGI",
    0x85: "CLGI", 0x86: "SKINIT", 0x87: "RDTSCP", 0x88: "ICEBP", 0x89: "WBINVD",
    0x8A: "MONITOR", 0x8B: "MWAIT", 0x8C: "MWAIT_CONDITIONAL", 0x8D: "XSETBV",
    0x8E: "RDPRU", 0x8F: "EFER_WRITE_TRAP", 0xA0: "INVLPGB", 0xA1: "INVLPGB_ILLEGAL",
    0xA2: "INVPCID", 0xA3: "MCOMMIT", 0xA4: "TLBSYNC", 0x400: "NPF",
    0x401: "AVIC_INCOMPLETE_IPI", 0x402: "AVIC_NOACCEL", 0x403: "VMGEXIT",
    -1: "INVALID", -2: "BUSY",
}


def exit_name(code):
    """Table C-1 name of an exit code, e.g. 0x72 -> 'CPUID'."""
    code = defs.normalize_exit_code(code)
    if 0 <= code < 0x20:
        return "CR%d_%s" % (code & 0xF, "WRITE" if code & 0x10 else "READ")
    if 0x20 <= code < 0x40:
        return "DR%d_%s" % (code & 0xF, "WRITE" if code & 0x10 else "READ")
    if 0x40 <= code < 0x60:
        return "EXCP%d" % (code - 0x40)
    if 0x90 <= code < 0xA0:
        return "CR%d_WRITE_TRAP" % (code - 0x90)
    return _NAMES.get(code, "UNKNOWN_%#x" % code)
