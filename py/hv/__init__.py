# mpvisor's hypervisor package: the public API used at the REPL.
# Runs on the bare-metal MicroPython port.
import hw
import cmdline
import multiboot
from hv.cpu import CpuInfo

_cpu = None


def cpu():
    """This CPU's identity and VMX/SVM availability (hv.cpu.CpuInfo)."""
    global _cpu
    if _cpu is None:
        _cpu = CpuInfo(hw.cpuid, hw.rdmsr)
    return _cpu


def vendor():
    """'intel' (VMX), 'amd' (SVM) or None when no virtualization is usable.
    The kernel command line option vendor=intel|amd|none forces a choice."""
    force = cmdline.parse(multiboot.info().cmdline).get("vendor")
    return cpu().vendor(force if isinstance(force, str) else None)
