# Per-CPU SVM state: can this CPU enable SVM (APM2 15.4 Enabling SVM)?
# Runs on the bare-metal port; cpuid/rdmsr are passed in for host tests.
from hv.msr import VM_CR
from hv.svm import defs


def availability(cpuid, rdmsr):
    """(usable, reason) for SVM on this CPU."""
    if cpuid(0x80000000)[0] < 0x80000001 or not cpuid(0x80000001)[2] & defs.CPUID_80000001_ECX_SVM:
        return False, "not present (CPUID Fn8000_0001 ECX.SVM = 0)"
    vm_cr = rdmsr(VM_CR)
    if vm_cr is None:
        # rdmsr faulted: a CPU model without VM_CR (Bochs' ryzen) cannot
        # have SVM disabled through it (APM2 15.30.1).
        vm_cr = 0
    if vm_cr & defs.VM_CR_SVMDIS:
        if vm_cr & defs.VM_CR_LOCK:
            return False, "disabled by firmware (VM_CR.SVMDIS locked): enable AMD-V/SVM in the firmware setup"
        return False, "disabled (VM_CR.SVMDIS set, unlocked: a key in SVM_KEY can re-enable it)"
    features = []
    if cpuid(0x80000000)[0] >= 0x8000000A:
        edx = cpuid(0x8000000A)[3]
        features = [name for bit, name in ((defs.CPUID_8000000A_EDX_NP, "NPT"),
                                           (defs.CPUID_8000000A_EDX_NRIPS, "NRIPS")) if edx & bit]
    return True, "usable" + (" (" + ", ".join(features) + ")" if features else "")
