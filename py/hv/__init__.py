# mpvisor's hypervisor package: the public API used at the REPL.
# Runs on the bare-metal MicroPython port. Boot needs only the CPU check and
# the frame allocator; the VM layer (hv.VM, the vCPU API, the loader's
# ImageError) is imported on first use, by the module __getattr__ below.
import hw
import cmdline
import multiboot
from hv.host.cpu import CpuInfo, rdmsr_or_none
from hv.host.allocator import BitmapFrameAllocator
from hv.host.frame import FrameError, PhysFrame, PhysFrameIf, set_default_allocator
# Eager and small; no submodule is named boot or help, so these stay the functions.
from hv.loader.boot import boot, images         # hv.boot('demo'): a kernel to its result
from hv.manual import help                      # hv.help(): the API on one screen

# Imported when first asked for: name -> its module.
_LAZY = {
    "Exit": "hv.vcpu.api", "UnexpectedExit": "hv.vcpu.api", "VCpu": "hv.vcpu.api",   # the arch-neutral vCPU API
    "VM": "hv.vmm.vm", "run_guest": "hv.vmm.vm",    # hv.VM(mem_size, allocator=hv.frames)
    "ImageError": "hv.loader.mbload",           # a kernel image that cannot be loaded
}


def __getattr__(name):
    # MicroPython calls this for any name the package lacks, `from hv import
    # paging` included, and lets what it raises through: so it imports
    # submodules too, and says AttributeError only for a name that is neither.
    module = _LAZY.get(name)
    if module is None:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return __import__("hv." + name, None, None, ("*",))
        except ImportError as e:
            if "hv." + name not in str(e):
                raise                           # a real failure inside the submodule
            raise AttributeError(name)
    value = getattr(__import__(module, None, None, (name,)), name)
    globals()[name] = value                     # found directly from now on
    return value


last_vm = None  # the VM of an hv.boot() stopped by Ctrl-C, kept for inspection

_cpu = None


def cpu():
    """This CPU's identity and VMX/SVM availability (hv.cpu.CpuInfo)."""
    global _cpu
    if _cpu is None:
        _cpu = CpuInfo(hw.cpuid, rdmsr_or_none(hw))
    return _cpu


def vendor():
    """'intel' (VMX), 'amd' (SVM) or None when no virtualization is usable.
    The kernel command line option vendor=intel|amd|none forces a choice."""
    force = cmdline.parse(multiboot.info().cmdline).get("vendor")
    return cpu().vendor(force if isinstance(force, str) else None)


frames = None  # the global PhysFrameIf (a BitmapFrameAllocator), set by init()


def init():
    """Boot step: build hv.frames over the RAM nothing else uses. Everything
    the loader and the kernel occupy stays out: the kernel image with its
    stacks, page tables and GC heap (all in .bss), the multiboot information
    and modules; from_memory_map also skips the first 1 MiB and every range
    the memory map does not call available."""
    global frames
    if frames is None:
        info = multiboot.info()
        reserved = [hw.kernel_range()] + info.used
        frames = BitmapFrameAllocator.from_memory_map(
            info.memory_map, reserved, hw.identity_limit(), hw.mem)
        set_default_allocator(frames)
    return frames
