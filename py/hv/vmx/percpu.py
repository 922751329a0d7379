# Per-CPU VMX state: can this CPU enter VMX operation (SDM 3C 24.6-24.7)?
# Runs on the bare-metal port; cpuid/rdmsr are passed in for host tests.
from hv.msr import IA32_FEATURE_CONTROL
from hv.vmx import defs


def availability(cpuid, rdmsr):
    """(usable, reason) for VMX on this CPU."""
    if not cpuid(1)[2] & defs.CPUID_1_ECX_VMX:
        return False, "not present (CPUID.1:ECX.VMX = 0)"
    fc = rdmsr(IA32_FEATURE_CONTROL)
    if fc is None:
        return False, "IA32_FEATURE_CONTROL cannot be read (RDMSR faulted)"
    if fc & defs.FEATURE_CONTROL_LOCK and not fc & defs.FEATURE_CONTROL_VMX_OUTSIDE_SMX:
        return False, ("disabled by firmware (IA32_FEATURE_CONTROL is locked with VMX off): "
                       "enable Intel VT-x in the firmware setup")
    if fc & defs.FEATURE_CONTROL_LOCK:
        return True, "usable (IA32_FEATURE_CONTROL locked, VMX on)"
    return True, "usable (IA32_FEATURE_CONTROL unlocked; mpvisor will enable and lock it)"
