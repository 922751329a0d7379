# Model-specific register numbers used by the hypervisor, shared by the VMX
# and SVM back ends. Hardware facts only (SDM Vol. 4 Table 2-2; SDM 3C
# Appendix A for the VMX capability MSRs; APM Vol. 2).
from micropython import const

IA32_FEATURE_CONTROL = const(0x3A)  # SDM 4 Table 2-2
IA32_SYSENTER_CS = const(0x174)
IA32_SYSENTER_ESP = const(0x175)
IA32_SYSENTER_EIP = const(0x176)
IA32_DEBUGCTL = const(0x1D9)
IA32_PAT = const(0x277)
IA32_VMX_BASIC = const(0x480)       # SDM App. A.1
IA32_VMX_PINBASED_CTLS = const(0x481)     # A.3.1
IA32_VMX_PROCBASED_CTLS = const(0x482)    # A.3.2
IA32_VMX_EXIT_CTLS = const(0x483)         # A.4
IA32_VMX_ENTRY_CTLS = const(0x484)        # A.5
IA32_VMX_MISC = const(0x485)              # A.6
IA32_VMX_CR0_FIXED0 = const(0x486)        # A.7
IA32_VMX_CR0_FIXED1 = const(0x487)
IA32_VMX_CR4_FIXED0 = const(0x488)        # A.8
IA32_VMX_CR4_FIXED1 = const(0x489)
IA32_VMX_VMCS_ENUM = const(0x48A)         # A.9
IA32_VMX_PROCBASED_CTLS2 = const(0x48B)   # A.3.3
IA32_VMX_EPT_VPID_CAP = const(0x48C)      # A.10
IA32_VMX_TRUE_PINBASED_CTLS = const(0x48D)
IA32_VMX_TRUE_PROCBASED_CTLS = const(0x48E)
IA32_VMX_TRUE_EXIT_CTLS = const(0x48F)
IA32_VMX_TRUE_ENTRY_CTLS = const(0x490)
IA32_EFER = const(0xC0000080)
IA32_STAR = const(0xC0000081)
IA32_LSTAR = const(0xC0000082)
IA32_CSTAR = const(0xC0000083)
IA32_FMASK = const(0xC0000084)
IA32_FS_BASE = const(0xC0000100)
IA32_GS_BASE = const(0xC0000101)
IA32_KERNEL_GS_BASE = const(0xC0000102)
VM_CR = const(0xC0010114)           # APM2 15.30.1
VM_HSAVE_PA = const(0xC0010117)     # APM2 15.30.4
# Architectural MSRs a guest finds (SDM 4 Table 2-2, 2-3; APM2 Appendix A).
IA32_TIME_STAMP_COUNTER = const(0x10)     # SDM 3B 18.17
IA32_APIC_BASE = const(0x1B)              # SDM 3A 11.4.4
IA32_BIOS_SIGN_ID = const(0x8B)           # microcode revision (AMD: PATCH_LEVEL)
IA32_PMC0 = const(0xC1)                   # SDM 3B 20.2.1 (P6 family: PERFCTR0/1)
IA32_PMC1 = const(0xC2)
IA32_MTRRCAP = const(0xFE)                # SDM 3A 12.11.1
IA32_PERFEVTSEL0 = const(0x186)           # SDM 3B 20.2.1
IA32_PERFEVTSEL1 = const(0x187)
IA32_MISC_ENABLE = const(0x1A0)           # SDM 4 Table 2-2
IA32_MTRR_PHYSBASE0 = const(0x200)        # SDM 3A 12.11.2.3: base 0x200 + 2n, mask + 1
IA32_MTRR_FIX64K_00000 = const(0x250)     # SDM 3A 12.11.2.2
IA32_MTRR_FIX16K_80000 = const(0x258)
IA32_MTRR_FIX16K_A0000 = const(0x259)
IA32_MTRR_FIX4K_C0000 = const(0x268)      # ... 0x26F
IA32_MTRR_DEF_TYPE = const(0x2FF)         # SDM 3A 12.11.2.1
IA32_TSC_DEADLINE = const(0x6E0)          # SDM 3A 11.5.4.1
IA32_TSC_AUX = const(0xC0000103)          # SDM 2B RDTSCP; APM3 RDTSCP
AMD_PERF_CTL0 = const(0xC0010000)         # APM2 13.2.1: PerfEvtSel0-3 at 0xC0010000-3,
AMD_PERF_CTR0 = const(0xC0010004)         # PerfCtr0-3 at 0xC0010004-7
AMD_NB_CFG = const(0xC001001F)            # Northbridge Configuration (BKDG fam 10h-16h)
AMD_SYSCFG = const(0xC0010010)            # APM2 A.1 System Configuration
AMD_HWCR = const(0xC0010015)              # Hardware Configuration (BKDG/PPR MSRC001_0015)
AMD_INT_PENDING = const(0xC0010055)       # Interrupt Pending (BKDG fam 10h-16h)
AMD_DE_CFG = const(0xC0011029)            # Decode Configuration, bit 1 LFENCE serializing
