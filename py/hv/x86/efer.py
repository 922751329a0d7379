# Which guest writes to IA32_EFER fault, for the back ends that emulate
# WRMSR to EFER (SDM 2B WRMSR, SDM 3A 2.2.1 and 10.8.5, APM2 3.1.7): the
# rules only, so a bad value #GPs in the guest instead of reaching the VMCB
# or VMCS, where entry would refuse it. Arch-neutral, pure Python.
from micropython import const

SCE = const(1 << 0)
LME = const(1 << 8)
LMA = const(1 << 10)
NXE = const(1 << 11)
_CPUID_SYSCALL = const(1 << 11)     # CPUID 0x80000001 EDX (SDM 2A Table 3-8, APM3 E.4.2)
_CPUID_NX = const(1 << 20)
_CPUID_LM = const(1 << 29)


def write_faults(value, current, paging, ext_edx):
    """True where WRMSR(EFER, value) raises #GP(0): a bit the guest's CPUID
    (0x80000001 EDX = ext_edx) does not offer is reserved (SCE needs
    SYSCALL, LME and LMA long mode, NXE NX; every other bit), or LME
    changes while CR0.PG = 1."""
    allowed = ((SCE if ext_edx & _CPUID_SYSCALL else 0) | (NXE if ext_edx & _CPUID_NX else 0)
               | (LME | LMA if ext_edx & _CPUID_LM else 0))
    return bool(value & ~allowed or paging and (value ^ current) & LME)
