# Host tests of the architectural MSRs (hv.vmm.msrs): which MSRs each vendor's
# guest finds, reset values, the reserved-bit and reserved-type #GPs of PAT and
# the MTRRs (SDM 3A 12.11, 12.12), the KVM-without-PMU answers of the legacy
# performance counters, MTRRcap read-only, TSC_AUX loaded for RDTSCP.
import pytest

from hv.vmm.msrs import ArchMsrs, MISC_ENABLE_RESET, PAT_RESET
from hv.x86 import msr as M
from hv.x86.fault import GuestFault


def make(vendor, aux=None):
    h = ArchMsrs(vendor, lambda: 123456, maxphyaddr=40, tsc_aux=aux).handlers()
    return h


def rd(h, n):
    return h[n][0](n)


def wr(h, n, v):
    h[n][1](n, v)


def gp(h, n, v):
    with pytest.raises(GuestFault) as e:
        wr(h, n, v)
    assert (e.value.vector, e.value.error_code) == (13, 0)


def test_vendor_sets():
    intel, amd = make("intel"), make("amd")
    for n in (0x10, 0x8B, 0xFE, 0x2FF, 0x277, 0x250, 0x26F, 0x200, 0x20F, 0xC0000103):
        assert n in intel and n in amd
    for n in (0x1A0, 0xC1, 0xC2, 0x186, 0x187):
        assert n in intel and n not in amd
    for n in list(range(0xC0010000, 0xC0010008)) + [0xC0010010, 0xC0010015, 0xC0010055,
                                                    0xC0011029, 0xC001001F]:
        assert n in amd and n not in intel
    for absent in (0x210, 0x26E + 2, 0xC3, 0x188, 0x38F):       # 9th variable MTRR, PMC2, ...
        assert absent not in intel


def test_reset_values():
    h = make("intel")
    assert rd(h, 0x277) == PAT_RESET == 0x0007040600070406
    assert rd(h, 0xFE) == 0x508 and rd(h, 0x2FF) == 0 and rd(h, 0x1A0) == MISC_ENABLE_RESET
    assert rd(h, 0x8B) == 0x100000000 and rd(h, 0x10) == 123456


def test_pat():
    h = make("amd")
    wr(h, 0x277, 0x0706050401000706)
    assert rd(h, 0x277) == 0x0706050401000706
    gp(h, 0x277, 0x02)                  # type 2 reserved
    gp(h, 0x277, 0x03 << 56)            # type 3 reserved
    gp(h, 0x277, 0x08)                  # bits 7:3 of an entry
    assert rd(h, 0x277) == 0x0706050401000706


def test_mtrrs():
    h = make("intel")
    gp(h, 0xFE, 0)                      # MTRRcap is read-only
    wr(h, 0x2FF, 0xC06)
    assert rd(h, 0x2FF) == 0xC06
    gp(h, 0x2FF, 0x1000)
    gp(h, 0x2FF, 0x2)                   # type 2 reserved
    wr(h, 0x250, 0x0606060606060606)
    gp(h, 0x268, 0x07)                  # UC- is a PAT type only
    wr(h, 0x200, 0xFF00000006)          # base below MAXPHYADDR 40, WB
    wr(h, 0x201, 0xFF00000800)          # valid
    gp(h, 0x200, 1 << 40)
    gp(h, 0x200, 0x100)                 # bits 11:8 reserved
    gp(h, 0x201, 0x400)
    assert rd(h, 0x200) == 0xFF00000006 and rd(h, 0x201) == 0xFF00000800


def test_counters_read_zero_drop_writes():
    for vendor, msrs in (("intel", (0xC1, 0xC2, 0x186, 0x187)),
                         ("amd", range(0xC0010000, 0xC0010008))):
        h = make(vendor)
        for n in msrs:
            wr(h, n, 0x430076)
            assert rd(h, n) == 0


def test_amd_config_msrs():
    h = make("amd")
    assert rd(h, 0xC0010010) == 0 and rd(h, 0xC0010055) == 0
    wr(h, 0xC001001F, 1 << 46)          # NB_CFG: Linux's PCI set-up (EnableCf8ExtCfg); dropped as KVM
    assert rd(h, 0xC001001F) == 0
    wr(h, 0xC0011029, 2)                # Linux sets LFENCE serializing
    assert rd(h, 0xC0011029) == 2
    gp(h, 0xC0011029, 1)
    assert rd(h, 0xC0010015) == 1 << 24  # HWCR: TscFreqSel, read-only 1 (Linux warns without it)
    wr(h, 0xC0010015, 0x40 | 1 << 18)   # flush-filter bit dropped, McStatusWrEn kept
    assert rd(h, 0xC0010015) == 1 << 18 | 1 << 24
    wr(h, 0xC0010015, 0)
    assert rd(h, 0xC0010015) == 1 << 24
    gp(h, 0xC0010015, 1)


def test_tsc_aux_loaded():
    loaded = []
    h = make("intel", loaded.append)
    wr(h, 0xC0000103, 7)
    assert loaded == [7] and rd(h, 0xC0000103) == 7
    gp(h, 0xC0000103, 1 << 32)
    assert loaded == [7]
    wr(h, 0x10, 5)                      # TSC writes dropped (the TSC is the host's)
    wr(h, 0x8B, 0)
    assert rd(h, 0x8B) == 0x100000000
