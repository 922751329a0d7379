# VMX names for reports and errors (Intel SDM Vol. 3C): exit reasons
# (25.9.1 Table 25-18; App. C), VM-instruction errors (31.4 Table 31-1) and
# the invalid-guest-state qualification (27.7). The encodings themselves are
# in hv.vcpu.vmx.defs. Pure; bare metal and CPython.
from hv.vcpu.vmx import defs

EXIT_REASON_NAMES = (
    "EXCEPTION_NMI", "EXTERNAL_INTERRUPT", "TRIPLE_FAULT", "INIT", "SIPI",
    "IO_SMI", "OTHER_SMI", "INTERRUPT_WINDOW", "NMI_WINDOW", "TASK_SWITCH",
    "CPUID", "GETSEC", "HLT", "INVD", "INVLPG", "RDPMC", "RDTSC", "RSM",
    "VMCALL", "VMCLEAR", "VMLAUNCH", "VMPTRLD", "VMPTRST", "VMREAD",
    "VMRESUME", "VMWRITE", "VMXOFF", "VMXON", "CR_ACCESS", "DR_ACCESS",
    "IO_INSTRUCTION", "RDMSR", "WRMSR", "INVALID_GUEST_STATE", "MSR_LOADING",
    "35", "MWAIT", "MONITOR_TRAP_FLAG", "38", "MONITOR", "PAUSE",
    "MACHINE_CHECK", "42", "TPR_BELOW_THRESHOLD", "APIC_ACCESS",
    "VIRTUALIZED_EOI", "GDTR_IDTR", "LDTR_TR", "EPT_VIOLATION",
    "EPT_MISCONFIG", "INVEPT", "RDTSCP", "PREEMPTION_TIMER", "INVVPID",
    "WBINVD", "XSETBV", "APIC_WRITE", "RDRAND", "INVPCID", "VMFUNC",
    "ENCLS", "RDSEED", "PML_FULL", "XSAVES", "XRSTORS", "PCONFIG",
    "SPP_EVENT", "UMWAIT", "TPAUSE", "LOADIWKEY",
)


def exit_name(reason):
    """Name of an exit reason (its basic part), 'FAILED_ENTRY:' prefixed
    when bit 31 says the VM entry failed (SDM 3C 27.7)."""
    basic = reason & defs.EXIT_REASON_BASIC_MASK
    name = EXIT_REASON_NAMES[basic] if basic < len(EXIT_REASON_NAMES) else "UNKNOWN_%d" % basic
    return "FAILED_ENTRY:" + name if reason & defs.EXIT_REASON_FAILED_ENTRY else name


# Exit qualification of an exit for invalid guest state (SDM 3C 27.7).
INVALID_GUEST_STATE_DETAIL = {
    2: "PDPTE loading failed", 3: "NMI injection while blocked by STI/MOV SS",
    4: "invalid VMCS link pointer",
}

# VM-instruction error numbers (SDM 3C 31.4, Table 31-1).
VM_ERRORS = {
    1: "VMCALL executed in VMX root operation",
    2: "VMCLEAR with invalid physical address",
    3: "VMCLEAR with VMXON pointer",
    4: "VMLAUNCH with non-clear VMCS",
    5: "VMRESUME with non-launched VMCS",
    6: "VMRESUME after VMXOFF",
    7: "VM entry with invalid control field(s)",
    8: "VM entry with invalid host-state field(s)",
    9: "VMPTRLD with invalid physical address",
    10: "VMPTRLD with VMXON pointer",
    11: "VMPTRLD with incorrect VMCS revision identifier",
    12: "VMREAD/VMWRITE from/to unsupported VMCS component",
    13: "VMWRITE to read-only VMCS component",
    15: "VMXON executed in VMX root operation",
    16: "VM entry with invalid executive-VMCS pointer",
    17: "VM entry with non-launched executive VMCS",
    18: "VM entry with executive-VMCS pointer not VMXON pointer",
    19: "VMCALL with non-clear VMCS",
    20: "VMCALL with invalid VM-exit control fields",
    22: "VMCALL with incorrect MSEG revision identifier",
    23: "VMXOFF under dual-monitor treatment of SMIs and SMM",
    24: "VMCALL with invalid SMM-monitor features",
    25: "VM entry with invalid VM-execution control fields in executive VMCS",
    26: "VM entry with events blocked by MOV SS",
    28: "invalid operand to INVEPT/INVVPID",
}


def vm_error_name(n):
    if n == defs.VMFAIL_INVALID:
        return "VMfailInvalid (no current VMCS)"
    return VM_ERRORS.get(n, "unknown VM-instruction error")
