# VMX hardware facts: CPUID and MSR bits (SDM Vol. 3C). Constants only.
from micropython import const

CPUID_1_ECX_VMX = const(1 << 5)              # SDM 3C 24.6 (Discovering support)
FEATURE_CONTROL_LOCK = const(1 << 0)         # SDM 3C 24.7, SDM 4 Table 2-2
FEATURE_CONTROL_VMX_IN_SMX = const(1 << 1)
FEATURE_CONTROL_VMX_OUTSIDE_SMX = const(1 << 2)
