# What a guest's CPUID returns: the host's leaves with VMX, SVM, MONITOR,
# MONITORX, the performance counters and what needs an MSR or VMM support
# mpvisor does not give (thermal monitoring, IA32_TSC_ADJUST, XSAVES and
# XFD, SME/SEV, OSVW) hidden, the local APIC (APIC, x2APIC, TSC-deadline) shown
# only when the VM has one (hv.vmm.apic), the hypervisor-present bit set, leaf 0x40000000
# answering mpvisor's signature; and the bits that follow the guest's own
# CR4 and XCR0 (OSXSAVE, OSPKE, the XSAVE area sizes) per vCPU, by
# guest_cpuid(). Arch-neutral policy for both back ends.
# Runs on the bare-metal port and on CPython (host tests, fake cpuid).
import struct
from array import array
from micropython import const
from hv.x86.bits import CR4_OSXSAVE, CR4_PKE

SIGNATURE = b"mpvisor\0\0\0\0\0"                # 12 bytes: EBX, ECX, EDX of 0x40000000
HV_LEAF_BASE = const(0x40000000)
HV_LEAF_MAX = const(0x40000001)
_LEAF1_ECX_MONITOR = const(1 << 3)              # APM3 / SDM 2A CPUID Fn0000_0001
_LEAF1_ECX_VMX = const(1 << 5)
_LEAF1_ECX_TSC_DEADLINE = const(1 << 24)
_LEAF1_EDX_APIC = const(1 << 9)
_LEAF1_EDX_THERMAL = const(0x20400000)          # ACPI thermal MSRs (22), TM (29): IA32_THERM_*
_LEAF1_ECX_TM2 = const(1 << 8)
_LEAF1_ECX_OSXSAVE = const(1 << 27)             # CR4.OSXSAVE as the guest set it
_LEAF6_EAX_ARAT = const(1 << 2)                 # leaf 6: only "APIC timer always runs" (as KVM)
_LEAF7_EBX_TSC_ADJUST = const(1 << 1)           # IA32_TSC_ADJUST, not emulated
_LEAF7_ECX_OSPKE = const(1 << 4)                # CR4.PKE as the guest set it
_XSAVE_LEAF = const(0xD)
_XSAVE1_EAX_HIDDEN = const(0x18)                # XSAVES + IA32_XSS (3), XFD (4): SDM 1 13.2
_XSAVE_LEGACY = const(576)                      # legacy region + XSAVE header (SDM 1 13.4)
_LEAF1_APIC_ECX = const(0x1200000)              # x2APIC | TSC-deadline
_PMU_LEAF = const(0xA)                          # SDM 2A CPUID leaf 0AH: version 0, no counters
_EXT1_ECX_PERFCTR = const(0x11800000)           # APM3 Fn8000_0001 ECX PerfCtrExtCore/NB/LLC (23, 24, 28)
_AMD_PERFMON_V2 = const(0x80000022)             # APM3 Fn8000_0022: extended PMU, hidden
_LEAF1_ECX_HYPERVISOR = const(1 << 31)          # reserved for hypervisor use
_EXT1_ECX_SVM = const(1 << 2)                   # APM3 Fn8000_0001
_EXT1_ECX_MONITORX = const(1 << 29)             # MONITORX/MWAITX: #UD here, as MONITOR/MWAIT (15.9)
_EXT1_ECX_OSVW = const(1 << 9)                  # OS-visible workarounds: MSRs C001_0140/0141 not emulated
_SVM_LEAF = const(0x8000000A)                   # SVM features: hidden entirely
_SEV_LEAF = const(0x8000001F)                   # SME/SEV/SNP (APM3): no memory encryption for guests
_TSC_LEAF = const(0x15)                         # SDM 2A CPUID 15H: TSC = ECX (crystal Hz) * EBX / EAX
_FREQ_LEAF = const(0x16)                        # SDM 2A CPUID 16H: base, maximum, bus MHz
# The crystal a corrected leaf 15H states: the emulated local APIC's 1 GHz
# bus (hv.vmm.devices.lapic_timer), which Linux takes the crystal for.
_CRYSTAL_HZ = const(1000000000)
_TSC_TOLERANCE = 0.02           # leaves stating a rate this far off the measured one are wrong
# Leaves whose output depends on ECX (SDM 2A Table 3-8, APM3 Appendix E).
_SUBLEAF_LEAVES = (0x4, 0x7, 0xB, 0xD, 0xF, 0x10, 0x12, 0x14, 0x17, 0x18, 0x1D, 0x1E,
                   0x1F, 0x20, 0x23, 0x24, 0x8000001D, 0x80000020, 0x80000026)
_CACHE_LIMIT = const(256)


class CpuidPolicy:
    """answer(leaf, sub) -> (eax, ebx, ecx, edx), cached: by leaf alone for
    leaves that ignore ECX (one dict lookup on the hot path), by (leaf, sub)
    for the others."""

    def __init__(self, host_cpuid, tsc_hz=None):
        self._host = host_cpuid
        self._tsc_hz = tsc_hz           # the host TSC's rate as measured (the guest's runs at it)
        self._tsc_leaves = None         # corrected leaves 15H and 16H, once computed
        self._by_leaf = {}
        self._by_sub = {}
        # The vCPUs' fast lane: the cached answer of a leaf that ignores
        # ECX, or None (then they call answer()).
        self.cached = self._by_leaf.get
        self.by_leaf = self._by_leaf    # the same lane's dict, for the natives (port/tier.h)
        sig = struct.unpack("<3I", SIGNATURE)
        self._hv = {HV_LEAF_BASE: (HV_LEAF_MAX, sig[0], sig[1], sig[2]),
                    HV_LEAF_MAX: (0, 0, 0, 0)}
        self.apic = False

    def set_apic(self, on):
        """Show (on) or hide the local APIC in leaf 1 (EDX.APIC[9],
        ECX.x2APIC[21], ECX.TSC-Deadline[24]; initial APIC ID 0 in EBX[31:24])."""
        self.apic = bool(on)
        self._by_leaf.clear()
        self._by_sub.clear()

    def answer(self, leaf, sub):
        r = self._by_leaf.get(leaf)
        if r is None:
            r = self._slow(leaf, sub)
        return r

    def _slow(self, leaf, sub):
        # Leaf 1 is cached by (leaf, 0) so the vCPUs' fast lane (`cached`)
        # misses it and guest_cpuid() completes it.
        if leaf in _SUBLEAF_LEAVES or leaf == 1:
            if leaf == 1:
                sub = 0
            key = leaf << 32 | sub
            r = self._by_sub.get(key)
            if r is None:
                r = self._compute(leaf, sub)
                if len(self._by_sub) < _CACHE_LIMIT:
                    self._by_sub[key] = r
            return r
        r = self._compute(leaf, 0)
        if len(self._by_leaf) < _CACHE_LIMIT:
            self._by_leaf[leaf] = r
        return r

    def _compute(self, leaf, sub):
        if leaf & 0xFFFFFF00 == HV_LEAF_BASE:
            return self._hv.get(leaf, (0, 0, 0, 0))
        if leaf == _SVM_LEAF or leaf == _PMU_LEAF or leaf == _AMD_PERFMON_V2 or leaf == _SEV_LEAF:
            return (0, 0, 0, 0)
        if (leaf == _TSC_LEAF or leaf == _FREQ_LEAF) and self._tsc_hz:
            fixed = self._tsc_rate_leaves()
            if fixed:
                return fixed[leaf - _TSC_LEAF]
        a, b, c, d = self._host(leaf, sub)
        if leaf == 1:
            c = (c & ~(_LEAF1_ECX_VMX | _LEAF1_ECX_MONITOR | _LEAF1_APIC_ECX | _LEAF1_ECX_TM2)
                 | _LEAF1_ECX_HYPERVISOR)
            d &= ~(_LEAF1_EDX_APIC | _LEAF1_EDX_THERMAL)
            if self.apic:
                c |= _LEAF1_APIC_ECX
                d |= _LEAF1_EDX_APIC
                b &= 0xFFFFFF           # initial APIC ID 0: the one vCPU's
        elif leaf == 6:
            return (a & _LEAF6_EAX_ARAT, 0, 0, 0)
        elif leaf == 7 and sub == 0:
            b &= ~_LEAF7_EBX_TSC_ADJUST
        elif leaf == _XSAVE_LEAF and sub == 1:
            a &= ~_XSAVE1_EAX_HIDDEN
            c = d = 0                           # IA32_XSS bits: none usable
        elif leaf == 0x80000001:
            c &= ~(_EXT1_ECX_SVM | _EXT1_ECX_PERFCTR | _EXT1_ECX_MONITORX | _EXT1_ECX_OSVW)
        return (a, b, c, d)

    def _tsc_rate_leaves(self):
        # Leaves 15H and 16H stating the TSC rate the guest's TSC runs at
        # (the host's, offset but not scaled), where the host's state a rate
        # more than _TSC_TOLERANCE off the one measured against the 8254
        # (hv.host.timer's); else () and the host's stand. Emulators get
        # this wrong: Bochs' corei7_skylake_x states 3.5 GHz for a TSC at
        # its `ips` (10 MHz here), so Linux's udelay() spun 350 times too
        # long and its clocksource watchdog gave up on the TSC. Linux reads
        # them as native_calibrate_tsc() does: TSC = ECX * EBX / EAX from
        # 15H, or from 16H's base MHz when 15H names no crystal.
        if self._tsc_leaves is None:
            hz, top = self._tsc_hz, self._host(0, 0)[0]
            stated = 0
            if top >= _TSC_LEAF:
                a, b, c, _ = self._host(_TSC_LEAF, 0)
                if a and b and c:
                    stated = c * b // a
            if not stated and top >= _FREQ_LEAF:
                stated = (self._host(_FREQ_LEAF, 0)[0] & 0xFFFF) * 1000000
            self._tsc_leaves = ()
            if stated and abs(stated - hz) > hz * _TSC_TOLERANCE:
                mhz = max(1, (hz + 500000) // 1000000)
                bus = self._host(_FREQ_LEAF, 0)[2] if top >= _FREQ_LEAF else 0
                self._tsc_leaves = (_tsc_ratio(hz) + (_CRYSTAL_HZ, 0), (mhz, mhz, bus, 0))
        return self._tsc_leaves

    def with_state(self, leaf, sub, cr4, xcr0):
        """answer(leaf, sub) completed for a vCPU whose CR4 and XCR0 are
        these: CPUID.1:ECX.OSXSAVE is CR4.OSXSAVE and CPUID.(7,0):ECX.OSPKE
        CR4.PKE (SDM 2A CPUID); CPUID.(0DH,0):EBX is the XSAVE area's size
        for the components enabled in XCR0, CPUID.(0DH,1):EBX its compacted
        size (IA32_XSS is 0) (SDM 1 13.2, 13.4.3)."""
        a, b, c, d = self.answer(leaf, sub)
        if leaf == 1:
            c = c & ~_LEAF1_ECX_OSXSAVE | (_LEAF1_ECX_OSXSAVE if cr4 & CR4_OSXSAVE else 0)
        elif leaf == 7 and sub == 0:
            c = c & ~_LEAF7_ECX_OSPKE | (_LEAF7_ECX_OSPKE if cr4 & CR4_PKE else 0)
        elif leaf == _XSAVE_LEAF and sub < 2:
            b = self._xsave_size(xcr0, sub == 1)
        return (a, b, c, d)

    def _xsave_size(self, xcr0, compacted):
        # Standard format: the end of the furthest enabled component (its
        # offset and size in sub-leaf i); compacted: the enabled components
        # one after another, 64-byte aligned where sub-leaf i's ECX[1] says.
        size = _XSAVE_LEGACY
        for i in range(2, 63):
            if xcr0 >> i & 1:
                n, offset, flags, _ = self.answer(_XSAVE_LEAF, i)
                if compacted:
                    if flags & 2:
                        size = (size + 63) & ~63
                    size += n
                elif n:
                    size = max(size, offset + n)
        return size

    def table(self, leaves):
        """The answers for (leaf, sub) pairs as array('I') of 6-word entries
        (leaf, sub or 0xFFFFFFFF for any, EAX, EBX, ECX, EDX): the layout of
        the native fast path (svm.fast_cpuid). Not for the leaves
        with_state() completes, whose answers differ from vCPU to vCPU."""
        t = array("I")
        for leaf, sub in leaves:
            if leaf == 1 or leaf == 7 and sub == 0 or leaf == _XSAVE_LEAF and sub < 2:
                raise ValueError("CPUID leaf %#x follows each vCPU's CR4/XCR0: not for a fixed table"
                                 % leaf)
            a, b, c, d = self.answer(leaf, sub)
            t.extend((leaf, sub if leaf in _SUBLEAF_LEAVES else 0xFFFFFFFF, a, b, c, d))
        return t


def _tsc_ratio(hz):
    # Leaf 15H's EAX, EBX (TSC = crystal * EBX / EAX) for a TSC at `hz` over
    # _CRYSTAL_HZ, to the kHz, in lowest terms: Linux multiplies the crystal
    # in kHz by EBX in 32 bits (native_calibrate_tsc), so EBX stays below
    # 4294 (to the MHz where the kHz ratio does not reduce that far).
    num, den = (hz + 500) // 1000, _CRYSTAL_HZ // 1000
    a, b = num, den
    while b:
        a, b = b, a % b
    num, den = num // a, den // a
    if num * (_CRYSTAL_HZ // 1000) >= 1 << 32:
        num, den = max(1, (hz + 500000) // 1000000), 1000
    return den, num


def guest_cpuid(c, leaf, sub):
    """CPUID(leaf, sub) as vCPU c's guest sees it (both back ends' CPUID
    exits): the VM's policy, completed from c's CR4 and XCR0 (with_state)."""
    if leaf == 1 or leaf == 7 or leaf == _XSAVE_LEAF:
        return c.vm.cpuid.with_state(leaf, sub, c.paging_regs()[2], c.xcr0)
    return c.vm.cpuid.answer(leaf, sub)
