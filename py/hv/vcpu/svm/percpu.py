# Per-CPU SVM state: can this CPU enable SVM, and enabling it (APM2 15.4:
# CPUID, VM_CR.SVMDIS, EFER.SVME, VM_HSAVE_PA) with its ASID pool.
# Runs on the bare-metal port; cpuid/rdmsr/wrmsr are passed in for host tests
# (rdmsr returns None for an MSR the CPU does not have).
from hv.x86.msr import IA32_EFER, VM_CR, VM_HSAVE_PA
from hv.vcpu import percpu as _shared
from hv.vcpu.svm import defs
from hv.host.frame import out_of_frames


def availability(cpuid, rdmsr):
    """(usable, reason) for SVM on this CPU."""
    if cpuid(0x80000000)[0] < 0x80000001 or not cpuid(0x80000001)[2] & defs.CPUID_80000001_ECX_SVM:
        return False, "not present (CPUID Fn8000_0001 ECX.SVM = 0)"
    vm_cr = rdmsr(VM_CR)
    if vm_cr is None:
        # rdmsr faulted: a CPU model without VM_CR (Bochs' ryzen) cannot
        # have SVM disabled through it (APM2 15.30.1).
        vm_cr = 0
    if vm_cr & defs.VM_CR_SVMDIS:
        if vm_cr & defs.VM_CR_LOCK:
            return False, "disabled by firmware (VM_CR.SVMDIS locked): enable AMD-V/SVM in the firmware setup"
        return False, "disabled (VM_CR.SVMDIS set, unlocked: a key in SVM_KEY can re-enable it)"
    features = []
    if cpuid(0x80000000)[0] >= 0x8000000A:
        edx = cpuid(0x8000000A)[3]
        features = [name for bit, name in ((defs.CPUID_8000000A_EDX_NP, "NPT"),
                                           (defs.CPUID_8000000A_EDX_NRIPS, "NRIPS")) if edx & bit]
    return True, "usable" + (" (" + ", ".join(features) + ")" if features else "")


class SvmError(Exception):
    pass


class PerCpu:
    """SVM enabled on this CPU: the host save area (VM_HSAVE_PA, written by
    VMRUN), the host VMSAVE area (state VMRUN does not switch) and the ASID
    pool. Shared by every vCPU; the last release() disables SVM again and
    returns both frames to the allocator they came from."""

    def __init__(self, allocator, cpuid, rdmsr, wrmsr):
        ok, why = availability(cpuid, rdmsr)
        if not ok:
            raise SvmError("SVM " + why)
        n = cpuid(0x8000000A)
        self.asid_count = n[1]                   # APM3 Fn8000_000A EBX: NASID
        edx = n[3]
        self.np = bool(edx & defs.CPUID_8000000A_EDX_NP)
        self.nrips = bool(edx & defs.CPUID_8000000A_EDX_NRIPS)
        self.flush_by_asid = bool(edx & defs.CPUID_8000000A_EDX_FLUSH_BY_ASID)
        self.decode_assists = bool(edx & defs.CPUID_8000000A_EDX_DECODE_ASSISTS)
        if not self.np:
            raise SvmError("SVM without nested paging (CPUID Fn8000_000A EDX.NP = 0) is not supported")
        self._allocator = allocator
        self._rdmsr, self._wrmsr = rdmsr, wrmsr
        self._asids = list(range(self.asid_count - 1, 0, -1))   # ASID 0 is the host's (15.16)
        self.hsave_pa = allocator.alloc_frame()
        self.host_area_pa = allocator.alloc_frame()
        if self.hsave_pa is None or self.host_area_pa is None:
            self._free_frames()
            raise out_of_frames(allocator, "the SVM host save areas", 2)
        allocator.mem(self.hsave_pa, 4096)[:] = bytes(4096)
        allocator.mem(self.host_area_pa, 4096)[:] = bytes(4096)
        self._efer_before = rdmsr(IA32_EFER)
        # EFER.SVME before any SVM instruction (15.4); EFER.NXE because the
        # nested walk takes NX from the host's EFER (15.25.5), so NPT
        # entries can deny execution.
        wrmsr(IA32_EFER, self._efer_before | defs.EFER_SVME | defs.EFER_NXE)
        wrmsr(VM_HSAVE_PA, self.hsave_pa)        # 15.30.4: 4 KiB aligned
        self.users = 0

    def alloc_asid(self):
        if not self._asids:
            raise SvmError("out of ASIDs (%d)" % self.asid_count)
        return self._asids.pop()

    def free_asid(self, asid):
        self._asids.append(asid)

    def flush_command(self):
        """TLB_CONTROL value that flushes one guest's ASID (15.16.1): by ASID
        where CPUID says it is supported, else everything."""
        return defs.TLB_CONTROL_FLUSH_ASID if self.flush_by_asid else defs.TLB_CONTROL_FLUSH_ALL

    def _free_frames(self):
        for pa in (self.hsave_pa, self.host_area_pa):
            if pa is not None:
                self._allocator.dealloc_frame(pa)
        self.hsave_pa = self.host_area_pa = None

    def disable(self):
        self._wrmsr(VM_HSAVE_PA, 0)
        self._wrmsr(IA32_EFER, self._efer_before)
        self._free_frames()


_owner = _shared.Owner(SvmError, "SVM")


def acquire(allocator, cpuid, rdmsr, wrmsr):
    """Enable SVM on first use and count users (hv.vcpu.percpu)."""
    return _owner.acquire(allocator, lambda: PerCpu(allocator, cpuid, rdmsr, wrmsr))


def release(p):
    _owner.release(p)
