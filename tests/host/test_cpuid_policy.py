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
    # No OSVW: its MSRs (C001_0140/0141) are not emulated, and Linux's
    # cpu_has_amd_erratum() read the first on ryzen ("unchecked MSR access").
    assert not p.answer(0x80000001, 0)[2] & 1 << 9


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


def _host(leaves):
    return lambda leaf, sub: leaves.get(leaf, (0, 0, 0, 0))


# Bochs 2.7's corei7_skylake_x: leaf 15H names no crystal, 16H a 3.5 GHz
# base (Linux: "tsc: Detected 3499.912 MHz TSC"), for a TSC that runs at
# Bochs' `ips`, 10 MHz at the default.
BOCHS_SKYLAKE = {0: (0x16, 0, 0, 0), 0x15: (2, 292, 0, 0), 0x16: (3500, 4000, 100, 0)}


def test_tsc_leaves_that_misstate_the_tsc_rate_state_the_measured_one():
    p = CpuidPolicy(_host(BOCHS_SKYLAKE), 9_999_900)
    a, b, c, d = p.answer(0x15, 0)
    # Linux's native_calibrate_tsc: TSC kHz = ECX / 1000 * EBX / EAX, the
    # product in 32 bits; the crystal is the emulated LAPIC's 1 GHz bus.
    assert (c, d) == (1_000_000_000, 0) and c // 1000 * b // a == 10_000
    assert c // 1000 * b < 1 << 32
    assert p.answer(0x16, 0) == (10, 10, 100, 0)                 # base and maximum MHz; bus kept
    assert p.answer(0x15, 0) is p.answer(0x15, 0)               # cached: the natives' lane too


@pytest.mark.parametrize("leaves, hz", [
    (BOCHS_SKYLAKE, 3_490_000_000),                             # 16H's 3.5 GHz, within 2%
    ({0: (0x16, 0, 0, 0), 0x15: (2, 292, 24_000_000, 0)}, 3_504_000_000),   # a crystal: 15H alone
    ({0: (0xD, 0, 0, 0), 0x15: (2, 292, 0, 0)}, 10_000_000),   # no leaf 15H (ryzen's 0xD top)
    (BOCHS_SKYLAKE, None),                                      # rate unknown: the host's leaves
])
def test_tsc_leaves_that_agree_or_are_absent_stay_the_hosts(leaves, hz):
    p = CpuidPolicy(_host(leaves), hz)
    assert p.answer(0x15, 0) == leaves.get(0x15, (0, 0, 0, 0))
    assert p.answer(0x16, 0) == leaves.get(0x16, (0, 0, 0, 0))


@pytest.mark.parametrize("hz", [10_000_000, 1_500_000, 200_000_000, 2_893_421_000, 4_200_000_000])
def test_a_corrected_leaf_15h_states_the_rate_within_linuxs_32_bits(hz):
    leaves = {**BOCHS_SKYLAKE, 0x16: (1, 1, 100, 0)}           # a 1 MHz base: wrong for each
    a, b, c, _ = CpuidPolicy(_host(leaves), hz).answer(0x15, 0)
    assert c // 1000 * b < 1 << 32
    assert abs(c * b / a - hz) <= max(500, hz // 2000)           # to the kHz, or the MHz past 4.29 GHz
