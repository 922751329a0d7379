# SVM hardware facts: CPUID and MSR bits (APM Vol. 2). Constants only.
from micropython import const

CPUID_80000001_ECX_SVM = const(1 << 2)      # APM2 15.4
CPUID_8000000A_EDX_NP = const(1 << 0)       # APM3 CPUID Fn8000_000A
CPUID_8000000A_EDX_NRIPS = const(1 << 3)
VM_CR_LOCK = const(1 << 3)                  # APM2 15.30.1
VM_CR_SVMDIS = const(1 << 4)
