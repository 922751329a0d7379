"""hv.vcpu.cpuid.CpuidPolicy: what a guest's CPUID hides of the host's (the
features whose MSRs or VMM support mpvisor does not give, found by booting
Debian's kernel on Bochs' Skylake-X and ryzen: IA32_TSC_ADJUST,
IA32_THERM_INTERRUPT and MSR_AMD64_SEV #GPed, XSAVES advertised without
IA32_XSS) and what with_state() completes
from a vCPU's CR4 and XCR0."""
import pytest

from hv.vcpu.cpuid import CpuidPolicy

ALL = 0xFFFFFFFF
# A host with everything set, and an XSAVE leaf of x87, SSE, AVX (256 bytes
# at 576) and AVX-512's opmask (64 bytes at 1088, 64-byte aligned compacted).
XSAVE = {(0xD, 0): (0xE7, 0x240, 0xA80, 0), (0xD, 1): (0x1F, 0, ALL, ALL),
         (0xD, 2): (256, 576, 0, 0), (0xD, 5): (64, 1088, 2, 0)}


def policy():
    return CpuidPolicy(lambda leaf, sub: XSAVE.get((leaf, sub), (ALL, ALL, ALL, ALL)))


def test_features_without_their_msrs_are_hidden():
    p = policy()
    a, b, c, d = p.answer(1, 0)
    assert not c & (1 << 8) and not d & (1 << 22 | 1 << 29)    # TM2; ACPI, TM (IA32_THERM_*)
    assert p.answer(6, 0) == (1 << 2, 0, 0, 0)                   # thermal/power leaf: ARAT only
    assert not p.answer(7, 0)[1] & 2 and p.answer(7, 1)[1] == ALL   # IA32_TSC_ADJUST, leaf 7.0 only
    a, b, c, d = p.answer(0xD, 1)
    assert a == 0x7 and (c, d) == (0, 0)                         # no XSAVES/IA32_XSS, no XFD
    # No SME/SEV: Linux's decompressor reads MSR_AMD64_SEV when 8000_001F
    # says SEV, and Bochs' ryzen says so (the #GP killed the boot there).
    assert p.answer(0x8000001F, 0) == (0, 0, 0, 0)
    # No MONITORX/MWAITX: the vCPUs give MONITOR(X)/MWAIT(X) #UD, and Linux
    # used MONITORX for its delays on ryzen (the #UD killed the idle task).
    assert not p.answer(0x80000001, 0)[2] & 1 << 29


def test_state_bits_follow_the_vcpu():
    p = policy()
    assert not p.with_state(1, 0, 0, 1)[2] & 1 << 27
    assert p.with_state(1, 0, 1 << 18, 1)[2] & 1 << 27           # OSXSAVE is CR4.OSXSAVE
    assert not p.with_state(7, 0, 0, 1)[2] & 1 << 4
    assert p.with_state(7, 0, 1 << 22, 1)[2] & 1 << 4            # OSPKE is CR4.PKE
    assert p.with_state(0xD, 0, 0, 0x3)[1] == 576
    assert p.with_state(0xD, 0, 0, 0x7)[1] == 832
    assert p.with_state(0xD, 0, 0, 0x27)[1] == 1152              # standard: up to opmask's end
    assert p.with_state(0xD, 1, 0, 0x27)[1] == 896               # compacted: 832, aligned, + 64
    assert p.with_state(0xD, 2, 0, 0x27) == p.answer(0xD, 2)     # sub-leaves >= 2 are fixed


def test_leaf_1_stays_out_of_the_fast_lane_and_fixed_tables():
    p = policy()
    p.answer(1, 0)
    p.answer(2, 0)
    assert p.cached(1) is None and p.cached(2) is not None
    for leaf, sub in ((1, 0), (7, 0), (0xD, 0), (0xD, 1)):
        with pytest.raises(ValueError, match="follows each vCPU"):
            p.table([(leaf, sub)])
    assert len(p.table([(7, 1), (0xD, 2)])) == 12
