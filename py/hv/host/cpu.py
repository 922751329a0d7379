# What CPU this is and which virtualization extension can be used.
# Runs on the bare-metal port; cpuid/rdmsr are passed in for host tests.
import struct
from hv.vcpu.svm import percpu as svm_percpu
from hv.vcpu.vmx import percpu as vmx_percpu


def rdmsr_or_none(io):
    """io.rdmsr, but None where the MSR does not exist (RDMSR raises #GP,
    io.CPUFault), as CpuInfo and the per-CPU setup of both back ends expect."""
    def rdmsr(msr):
        try:
            return io.rdmsr(msr)
        except io.CPUFault:
            return None
    return rdmsr


def _regs_text(regs, order):
    return b"".join(struct.pack("<I", regs[i]) for i in order).decode().rstrip("\0").strip()


class CpuInfo:
    """Vendor, model and VMX/SVM availability, read once. rdmsr returns
    None where the MSR does not exist (the RDMSR faulted)."""

    def __init__(self, cpuid, rdmsr):
        leaf0 = cpuid(0)
        self.vendor_id = _regs_text(leaf0, (1, 3, 2))
        self.model_name = ""
        if cpuid(0x80000000)[0] >= 0x80000004:
            self.model_name = _regs_text(
                [r for leaf in (0x80000002, 0x80000003, 0x80000004) for r in cpuid(leaf)],
                range(12))
        eax = cpuid(1)[0]
        family = (eax >> 8) & 0xF
        model = (eax >> 4) & 0xF
        if family in (6, 15):  # SDM 2A CPUID: display family/model
            model |= ((eax >> 16) & 0xF) << 4
        if family == 15:
            family += (eax >> 20) & 0xFF
        self.family, self.model, self.stepping = family, model, eax & 0xF
        self.vmx = vmx_percpu.availability(cpuid, rdmsr)
        self.svm = svm_percpu.availability(cpuid, rdmsr)

    def vendor(self, force=None):
        """'intel', 'amd' or None; force ('intel'/'amd'/'none') picks one."""
        usable = [name for name, (ok, _) in (("intel", self.vmx), ("amd", self.svm)) if ok]
        if force is not None:
            return force if force in usable else None
        return usable[0] if usable else None

    def summary(self):
        return (f"CPU: {self.vendor_id} {self.model_name} (family {self.family:#x}, "
                f"model {self.model:#x}, stepping {self.stepping})\n"
                f"VMX: {self.vmx[1]}\nSVM: {self.svm[1]}")
