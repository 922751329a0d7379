# Architectural bits of the control registers, EFER, RFLAGS and XCR0, once
# for every module (SDM 3A 2.5, 2.2.1, 2.3; APM2 3.1; SDM 1 13.3). Hot paths
# that need a folded constant keep a private `const` copy, which
# tests/host/test_x86_bits.py checks against this file. Pure constants.
from micropython import const

# CR0 (SDM 3A 2.5, APM2 3.1.1)
CR0_PE = const(1 << 0)
CR0_MP = const(1 << 1)
CR0_TS = const(1 << 3)
CR0_ET = const(1 << 4)
CR0_NE = const(1 << 5)
CR0_WP = const(1 << 16)
CR0_NW = const(1 << 29)
CR0_CD = const(1 << 30)
CR0_PG = const(1 << 31)

# CR4 (SDM 3A 2.5, APM2 3.7.1)
CR4_PSE = const(1 << 4)
CR4_PAE = const(1 << 5)
CR4_LA57 = const(1 << 12)
CR4_VMXE = const(1 << 13)
CR4_PCIDE = const(1 << 17)
CR4_OSXSAVE = const(1 << 18)
CR4_PKE = const(1 << 22)

# IA32_EFER (SDM 3A 2.2.1, APM2 3.1.7)
EFER_SCE = const(1 << 0)
EFER_LME = const(1 << 8)
EFER_LMA = const(1 << 10)
EFER_NXE = const(1 << 11)
EFER_SVME = const(1 << 12)

# RFLAGS (SDM 1 3.4.3, 3A 2.3)
RFLAGS_RESERVED = const(1 << 1)     # always 1
RFLAGS_IF = const(1 << 9)
RFLAGS_VM = const(1 << 17)

# XCR0 state components (SDM 1 13.3)
XCR0_X87 = const(1 << 0)
XCR0_SSE = const(1 << 1)
XCR0_AVX = const(1 << 2)
XCR0_BNDREGS = const(1 << 3)
XCR0_BNDCSR = const(1 << 4)
XCR0_AVX512 = const(7 << 5)         # opmask, ZMM_Hi256, Hi16_ZMM
XCR0_TILE = const(3 << 17)          # XTILECFG, XTILEDATA


def xsetbv_faults(index, value, cpl, supported):
    """True when XSETBV of `value` into XCR[index] raises #GP(0) (SDM 2B
    XSETBV; SDM 1 13.3): CPL > 0, an index other than 0, x87 clear, a bit the
    CPU does not support (CPUID.(EAX=0DH,ECX=0):EDX:EAX), AVX without SSE,
    one MPX bit without the other, AVX-512 state partly set or without AVX,
    one AMX bit without the other."""
    if cpl or index or not value & XCR0_X87 or value & ~supported:
        return True
    if value & XCR0_AVX and not value & XCR0_SSE:
        return True
    mpx = value & (XCR0_BNDREGS | XCR0_BNDCSR)
    if mpx and mpx != XCR0_BNDREGS | XCR0_BNDCSR:
        return True
    avx512 = value & XCR0_AVX512
    if avx512 and (avx512 != XCR0_AVX512 or not value & XCR0_AVX):
        return True
    tile = value & XCR0_TILE
    return bool(tile) and tile != XCR0_TILE
