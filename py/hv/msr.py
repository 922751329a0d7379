# Model-specific register numbers used by the hypervisor, shared by the VMX
# and SVM back ends. Hardware facts only (SDM Vol. 4 Table 2-2; APM Vol. 2).
from micropython import const

IA32_FEATURE_CONTROL = const(0x3A)  # SDM 4 Table 2-2
IA32_EFER = const(0xC0000080)
IA32_FS_BASE = const(0xC0000100)
IA32_GS_BASE = const(0xC0000101)
VM_CR = const(0xC0010114)           # APM2 15.30.1
VM_HSAVE_PA = const(0xC0010117)     # APM2 15.30.4
