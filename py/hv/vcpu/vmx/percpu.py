# Per-CPU VMX: can this CPU enter VMX operation, and entering it (SDM 3C
# 24.6-24.8: CPUID, IA32_FEATURE_CONTROL, CR0/CR4 fixed bits, VMXON), the
# capability MSRs (App. A) and VPIDs. Bare-metal port; cpuid and MSR/CR
# accessors are passed in for host tests (rdmsr: None for a missing MSR).
from hv.x86 import msr as M
from hv.host.frame import out_of_frames
from hv.vcpu import percpu as _shared
from hv.vcpu.vmx import defs


def availability(cpuid, rdmsr):
    """(usable, reason) for VMX on this CPU."""
    if not cpuid(1)[2] & defs.CPUID_1_ECX_VMX:
        return False, "not present (CPUID.1:ECX.VMX = 0)"
    fc = rdmsr(M.IA32_FEATURE_CONTROL)
    if fc is None:
        return False, "IA32_FEATURE_CONTROL cannot be read (RDMSR faulted)"
    if fc & defs.FEATURE_CONTROL_LOCK and not fc & defs.FEATURE_CONTROL_VMX_OUTSIDE_SMX:
        return False, ("disabled by firmware (IA32_FEATURE_CONTROL is locked with VMX off): "
                       "enable Intel VT-x in the firmware setup")
    if fc & defs.FEATURE_CONTROL_LOCK:
        return True, "usable (IA32_FEATURE_CONTROL locked, VMX on)"
    return True, "usable (IA32_FEATURE_CONTROL unlocked; mpvisor will enable and lock it)"


class VmxError(Exception):
    pass


def adjust_controls(cap, required, optional=0, what="controls"):
    """A control word from a capability MSR (SDM App. A.3-A.5): bits 31:0
    are the allowed 0-settings (1 = must be 1), bits 63:32 the allowed
    1-settings (0 = must be 0). Every required bit must be allowed; optional
    bits are kept where allowed."""
    must, may = cap & 0xFFFFFFFF, cap >> 32
    missing = required & ~may
    if missing:
        raise VmxError("%s: this CPU cannot set %#x (allowed %#x)" % (what, missing, may))
    return (required | optional & may | must) & 0xFFFFFFFF


def apply_fixed(value, fixed0, fixed1):
    """CR0/CR4 with the bits VMX operation fixes (SDM App. A.7-A.8): 1 in
    FIXED0 must be 1, 0 in FIXED1 must be 0."""
    return (value | fixed0) & fixed1


class Caps:
    """The capability MSRs, read once. The TRUE control MSRs replace the
    others where IA32_VMX_BASIC[55] says they exist (App. A.2): only they
    let CR3-load/store exiting and the like be 0."""

    def __init__(self, rdmsr):
        self.basic = rdmsr(M.IA32_VMX_BASIC)
        true = self.basic & defs.BASIC_TRUE_CTLS
        self.pin = rdmsr(M.IA32_VMX_TRUE_PINBASED_CTLS if true else M.IA32_VMX_PINBASED_CTLS)
        self.cpu = rdmsr(M.IA32_VMX_TRUE_PROCBASED_CTLS if true else M.IA32_VMX_PROCBASED_CTLS)
        self.exit = rdmsr(M.IA32_VMX_TRUE_EXIT_CTLS if true else M.IA32_VMX_EXIT_CTLS)
        self.entry = rdmsr(M.IA32_VMX_TRUE_ENTRY_CTLS if true else M.IA32_VMX_ENTRY_CTLS)
        self.misc = rdmsr(M.IA32_VMX_MISC)
        self.cr0_fixed0 = rdmsr(M.IA32_VMX_CR0_FIXED0)
        self.cr0_fixed1 = rdmsr(M.IA32_VMX_CR0_FIXED1)
        self.cr4_fixed0 = rdmsr(M.IA32_VMX_CR4_FIXED0)
        self.cr4_fixed1 = rdmsr(M.IA32_VMX_CR4_FIXED1)
        # Secondary controls and EPT/VPID exist only where the primary
        # controls allow "activate secondary controls" (App. A.3.3, A.10).
        secondary = self.cpu >> 32 & defs.CPU_ACTIVATE_SECONDARY
        self.secondary = rdmsr(M.IA32_VMX_PROCBASED_CTLS2) if secondary else 0
        self.ept_vpid = rdmsr(M.IA32_VMX_EPT_VPID_CAP) if secondary else 0
        self.revision = self.basic & defs.BASIC_REVISION_MASK
        self.vmcs_size = (self.basic >> defs.BASIC_VMCS_SIZE_SHIFT) & 0x1FFF
        self.vmcs_memtype = (self.basic >> defs.BASIC_MEMTYPE_SHIFT) & 0xF

    def can(self, cap_word, bit):
        """May control `bit` of this capability MSR be 1?"""
        return bool(cap_word >> 32 & bit)

    def ept(self, bit):
        return bool(self.ept_vpid & bit)


class PerCpu:
    """VMX operation on this CPU: capabilities, the VMXON region and the
    VPID pool, shared by every vCPU; the last release() leaves VMX
    operation (VMXOFF, CR4.VMXE = 0) and frees the VMXON region."""

    def __init__(self, allocator, io, native, rdmsr):
        ok, why = availability(io.cpuid, rdmsr)
        if not ok:
            raise VmxError("VMX " + why)
        self._allocator, self._io, self._native = allocator, io, native
        caps = self.caps = Caps(rdmsr)
        if caps.vmcs_size > 4096:
            raise VmxError("VMCS region of %d bytes does not fit a frame" % caps.vmcs_size)
        if not (caps.can(caps.cpu, defs.CPU_ACTIVATE_SECONDARY)
                and caps.can(caps.secondary, defs.SEC_ENABLE_EPT)):
            raise VmxError("VMX without EPT (IA32_VMX_PROCBASED_CTLS2[33]) is not supported")
        self.current = None                 # physical address of the current VMCS
        self.vmxon_pa = None
        self._vpid_next, self._vpids_free = 1, []
        self.users = 0
        self._enable(rdmsr)

    def _enable(self, rdmsr):
        # SDM 3C 24.7: IA32_FEATURE_CONTROL must be locked with VMX outside
        # SMX enabled; when firmware left it unlocked, set both (availability()
        # already refused a lock with VMX off).
        io = self._io
        fc = rdmsr(M.IA32_FEATURE_CONTROL)
        if not fc & defs.FEATURE_CONTROL_LOCK:
            io.wrmsr(M.IA32_FEATURE_CONTROL,
                     fc | defs.FEATURE_CONTROL_LOCK | defs.FEATURE_CONTROL_VMX_OUTSIDE_SMX)
        if io.cr4() & defs.CR4_VMXE:
            # An earlier session (before a soft reboot) left VMX operation on.
            try:
                self._native.vmxoff()
            except Exception:
                pass
        # SDM 3C 24.8: CR0 and CR4 must hold the fixed bits before VMXON
        # (CR4.VMXE among them, App. A.8).
        c = self.caps
        self._cr4_before = io.cr4()
        io.cr0(apply_fixed(io.cr0(), c.cr0_fixed0, c.cr0_fixed1))
        io.cr4(apply_fixed(self._cr4_before | defs.CR4_VMXE, c.cr4_fixed0, c.cr4_fixed1))
        pa = self._allocator.alloc_frame()
        if pa is None:
            io.cr4(self._cr4_before & ~defs.CR4_VMXE)
            raise out_of_frames(self._allocator, "the VMXON region", 1)
        m = self._allocator.mem(pa, 4096)
        m[:] = bytes(4096)
        m[0:4] = c.revision.to_bytes(4, "little")     # SDM 3C 25.11.5
        try:
            self._native.vmxon(pa)
        except BaseException:
            self._allocator.dealloc_frame(pa)
            io.cr4(self._cr4_before & ~defs.CR4_VMXE)
            raise
        self.vmxon_pa = pa

    # -- VPIDs (SDM 3C 29.1: VPID 0 is the host's) ---------------------------
    def alloc_vpid(self):
        if self._vpids_free:
            return self._vpids_free.pop()
        if self._vpid_next > 0xFFFF:
            raise VmxError("out of VPIDs")
        self._vpid_next += 1
        return self._vpid_next - 1

    def free_vpid(self, vpid):
        self._vpids_free.append(vpid)

    # -- the current VMCS ---------------------------------------------------
    def make_current(self, vmcs):
        if self.current != vmcs.pa:
            vmcs.load()
            self.current = vmcs.pa

    def forget(self, vmcs):
        """vmcs was cleared (VMCLEAR): no longer current."""
        if self.current == vmcs.pa:
            self.current = None

    def disable(self):
        self._native.vmxoff()
        self._io.cr4(self._io.cr4() & ~defs.CR4_VMXE)
        self._allocator.dealloc_frame(self.vmxon_pa)
        self.vmxon_pa = self.current = None


_owner = _shared.Owner(VmxError, "VMX")


def acquire(allocator, io, native, rdmsr):
    """Enter VMX operation on first use and count users (hv.vcpu.percpu)."""
    return _owner.acquire(allocator, lambda: PerCpu(allocator, io, native, rdmsr))


def release(p):
    _owner.release(p)
