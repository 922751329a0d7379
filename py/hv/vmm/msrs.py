# The architectural MSRs a guest of the host's vendor finds on hardware, as
# KVM answers them without a PMU (arch/x86/kvm/x86.c kvm_{get,set}_msr_common,
# svm.c): TSC, microcode revision, MTRRs and PAT kept per VM with their
# reserved-bit #GPs, MISC_ENABLE (Intel), the legacy performance counters
# (read 0, writes dropped), TSC_AUX, AMD's SYSCFG/HWCR/DE_CFG/INT_PENDING/
# NB_CFG.
# handlers() fit vcpu.register_msr. Arch-neutral policy; pure Python.
from micropython import const
from hv.x86 import msr as M
from hv.x86.fault import GuestFault

_GP = const(13)
# MTRR memory types (SDM 3A 12.11.2 Table 12-8): UC, WC, WT, WP, WB.
_MTRR_TYPES = (0, 1, 4, 5, 6)
# PAT types (SDM 3A 12.12.2 Table 12-10): 2 and 3 are reserved; UC- is 7.
_PAT_TYPES = (0, 1, 4, 5, 6, 7)
PAT_RESET = const(0x0007040600070406)   # SDM 3A 12.12.4
# MTRRcap: 8 variable ranges, fixed ranges (bit 8), WC (bit 10), no SMRR: KVM's.
MTRRCAP = const(0x508)
_VAR_MTRRS = const(8)
_DEF_TYPE_VALID = const(0xCFF)          # type 7:0, FE 10, E 11
# KVM's reset microcode revision (vcpu->arch.microcode_version): guest writes
# are dropped; Intel reads the revision in EDX, AMD's PATCH_LEVEL in EAX.
UCODE_REV = const(0x100000000)
# MISC_ENABLE as KVM resets it: BTS and PEBS unavailable (bits 11, 12).
MISC_ENABLE_RESET = const(0x1800)
_HWCR_IGNORED = const(0x148)            # KVM drops TLB-cache, flush-filter, IGNNE writes
_HWCR_VALID = const(0x1040000)          # McStatusWrEn (18), TscFreqSel (24)
# TscFreqSel: read-only 1 from family 10h on ("the TSC increments at the P0
# frequency"; AMD BKDG/PPR MSRC001_0015). Linux warns "[Firmware Bug]: TSC
# doesn't count with P0 frequency!" where it reads 0; the guest's TSC here
# runs at the host's constant rate.
_HWCR_TSC_FREQ_SEL = const(1 << 24)
_DE_CFG_VALID = const(0x2)              # LFENCE serializing


def _gp():
    raise GuestFault(_GP, 0)


def _check_types(value, nbytes, types):
    for i in range(nbytes):
        if value >> (8 * i) & 0xFF not in types:
            _gp()


class ArchMsrs:
    """vendor 'intel' or 'amd'; tsc(): the guest's TSC; maxphyaddr: the
    guest's physical-address width (variable-range MTRR reserved bits);
    tsc_aux(value): loads the guest's TSC_AUX into the CPU for RDTSCP (None:
    the CPU has no RDTSCP)."""

    def __init__(self, vendor, tsc, maxphyaddr=36, tsc_aux=None):
        self.vendor = vendor
        self._tsc = tsc
        self._phys_mask = (1 << maxphyaddr) - 1
        self._load_aux = tsc_aux
        self.values = {}                # MSR -> value, the stored ones
        self.reset()

    def reset(self):
        v = self.values
        v.clear()
        v[M.IA32_PAT] = PAT_RESET
        v[M.IA32_MTRR_DEF_TYPE] = 0
        for n in self._fixed():
            v[n] = 0
        for n in range(M.IA32_MTRR_PHYSBASE0, M.IA32_MTRR_PHYSBASE0 + 2 * _VAR_MTRRS):
            v[n] = 0
        v[M.IA32_TSC_AUX] = 0
        if self.vendor == "intel":
            v[M.IA32_MISC_ENABLE] = MISC_ENABLE_RESET
        else:
            v[M.AMD_HWCR] = _HWCR_TSC_FREQ_SEL
            v[M.AMD_DE_CFG] = 0

    def _fixed(self):
        return (M.IA32_MTRR_FIX64K_00000, M.IA32_MTRR_FIX16K_80000, M.IA32_MTRR_FIX16K_A0000) + \
            tuple(range(M.IA32_MTRR_FIX4K_C0000, M.IA32_MTRR_FIX4K_C0000 + 8))

    def handlers(self):
        """{msr: (read, write)} for every MSR this vendor's guest finds here."""
        h = {n: (self._stored, self._store) for n in self.values}
        h[M.IA32_TIME_STAMP_COUNTER] = (self._read_tsc, self._ignore)
        h[M.IA32_BIOS_SIGN_ID] = (self._ucode, self._ignore)
        h[M.IA32_MTRRCAP] = (self._mtrrcap, self._read_only)
        if self.vendor == "intel":
            # The P6 counters KVM answers whatever the PMU (CPUID 0xA: none here).
            for n in (M.IA32_PMC0, M.IA32_PMC1, M.IA32_PERFEVTSEL0, M.IA32_PERFEVTSEL1):
                h[n] = (self._zero, self._ignore)
        else:
            for n in range(M.AMD_PERF_CTL0, M.AMD_PERF_CTR0 + 4):
                h[n] = (self._zero, self._ignore)
            h[M.AMD_SYSCFG] = (self._zero, self._ignore)
            h[M.AMD_INT_PENDING] = (self._zero, self._ignore)
            h[M.AMD_NB_CFG] = (self._zero, self._ignore)    # Linux's PCI set-up writes it
        return h

    # -- handlers --------------------------------------------------------------
    def _zero(self, msr):
        return 0

    def _ignore(self, msr, value):
        pass

    def _read_only(self, msr, value):
        _gp()

    def _read_tsc(self, msr):
        return self._tsc()

    def _ucode(self, msr):
        return UCODE_REV

    def _mtrrcap(self, msr):
        return MTRRCAP

    def _stored(self, msr):
        return self.values[msr]

    def _store(self, msr, value):
        """A write checked as the CPU checks it (#GP(0) on reserved bits and types)."""
        if msr == M.IA32_PAT:
            if value & 0xF8F8F8F8F8F8F8F8:
                _gp()
            _check_types(value, 8, _PAT_TYPES)
        elif msr == M.IA32_MTRR_DEF_TYPE:
            if value & ~_DEF_TYPE_VALID:
                _gp()
            _check_types(value, 1, _MTRR_TYPES)
        elif M.IA32_MTRR_PHYSBASE0 <= msr < M.IA32_MTRR_PHYSBASE0 + 2 * _VAR_MTRRS:
            if msr & 1:                 # PhysMask: valid (11), mask 12..MAXPHYADDR-1
                if value & ~(self._phys_mask & ~0xFFF | 0x800):
                    _gp()
            else:                       # PhysBase: type 7:0, base 12..MAXPHYADDR-1
                if value & ~(self._phys_mask & ~0xFFF | 0xFF):
                    _gp()
                _check_types(value, 1, _MTRR_TYPES)
        elif msr in (M.IA32_MTRR_FIX64K_00000, M.IA32_MTRR_FIX16K_80000, M.IA32_MTRR_FIX16K_A0000) \
                or M.IA32_MTRR_FIX4K_C0000 <= msr < M.IA32_MTRR_FIX4K_C0000 + 8:
            _check_types(value, 8, _MTRR_TYPES)
        elif msr == M.IA32_TSC_AUX:
            if value >> 32:
                _gp()                   # SDM 2B WRMSR: TSC_AUX bits 63:32 are reserved
            if self._load_aux is not None:
                self._load_aux(value)
        elif msr == M.AMD_HWCR:
            value &= ~_HWCR_IGNORED
            if value & ~_HWCR_VALID:
                _gp()
            value |= _HWCR_TSC_FREQ_SEL
        elif msr == M.AMD_DE_CFG:
            if value & ~_DE_CFG_VALID:
                _gp()
        self.values[msr] = value
