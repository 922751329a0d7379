# A virtual machine: guest-physical RAM from 0 to mem_size backed on demand
# by frames from a PhysFrameIf and mapped by nested page tables (hv.npt.paging),
# its vCPUs, and vm.run(), the small VMM loop (hv.vmm.run). Runs on the
# bare-metal port and on CPython (host tests, with fake io/native modules).
from micropython import const
from hv.npt import paging
from hv.vmm.ram import GuestRam
from hv.vcpu.cpuid import CpuidPolicy
from hv.host.frame import default_allocator

PAGE = const(0x1000)
_LARGE_FRAMES = const(512)


class VM(GuestRam):
    """VM(mem_size, allocator=hv.frames): RAM is mapped page by page when
    vm.write() or the guest first touches it (vm.run maps on the
    NestedPageFault; with large_faults = True, the whole 2 MiB around the
    page where that is all unbacked RAM and the allocator has a 2 MiB-aligned
    run); prealloc=True maps it all now, with 2 MiB pages wherever the
    allocator has 2 MiB-aligned runs."""

    def __init__(self, mem_size, allocator=None, prealloc=False, io=None, native=None, arch=None):
        if mem_size <= 0 or mem_size & (PAGE - 1):
            raise ValueError("mem_size must be a positive multiple of 4 KiB")
        if io is None:
            import hw as io
        if arch is None:
            import hv
            arch = hv.vendor()
        self.io, self.native, self.arch = io, native, arch
        self.allocator = default_allocator() if allocator is None else allocator
        self.mem_size = mem_size
        self.npt = None
        self.vcpus = []
        self._pages = {}            # gpa >> 12 -> hpa of a 4 KiB mapping
        self._large = {}            # gpa >> 21 -> hpa of a 2 MiB mapping
        self._owned = set()         # keys of _pages/_large (large: negated - 1) we allocated
        self._split = set()         # gpa >> 21 of 2 MiB blocks holding a 4 KiB mapping (or once did)
        self.large_faults = False   # fault_in() backs whole 2 MiB blocks where it can
        self._read64 = io.read64
        self.trace = False          # True: vm.run() prints every exit (hv.vmm.trace)
        self.kernel = None          # the plan load_multiboot() or load_linux() followed
        if arch == "intel":                 # EPT, 1 GiB leaves where allowed (hv.npt.ept)
            from hv.npt.ept import EptTable
            self.npt = EptTable.for_cpu(self.allocator, io.rdmsr)
        else:
            self.npt = paging.NestedPageTable(self.allocator)
        try:
            self.cpuid = CpuidPolicy(io.cpuid, io.tsc_hz())
            from hv.vmm.run import Vmm
            self.vmm = Vmm(self)
            if prealloc:
                self.map_ram(0, mem_size)
        except BaseException:
            self.close()            # a VM that failed to build keeps no frame
            raise

    # -- guest-physical memory: hv.vmm.ram.GuestRam ---------------------------

    def load_multiboot(self, image, cmdline="", modules=()):
        """Load a multiboot (v1) kernel (ELF32, ELF64 or a.out-kludge) as a
        multiboot loader would, with boot modules [(bytes-like, cmdline)]
        page-aligned beside it (mods_addr/mods_count); the first vCPU,
        ready to run. ImageError names what is wrong with a malformed image
        or module list; the VM is untouched then."""
        from hv.loader.kernel import load_multiboot
        return load_multiboot(self, image, cmdline, modules=modules)

    def load_linux(self, kernel, initrd=None, cmdline="", mode=None, rsdp=0, reserved=()):
        """Load a Linux bzImage (and an initrd, bytes) as the 32/64-bit boot
        protocol says: the 64-bit entry where the kernel has one (mode
        'protected': code32_start), boot_params with this VM's e820 map
        (`reserved`: (addr, size, e820 type) regions, e.g. ACPI tables),
        `rsdp` the ACPI RSDP address or 0. The first vCPU, ready to run;
        ImageError names what is wrong with a malformed image."""
        from hv.loader.linux import load_linux
        return load_linux(self, kernel, initrd, cmdline, mode, rsdp, reserved)

    def load_flat(self, data, gpa, entry, mode):
        """Raw code at gpa entered at entry in mode 'real', 'protected' or
        'long'; the first vCPU, ready to run."""
        from hv.loader.kernel import load_flat
        return load_flat(self, data, gpa, entry, mode)

    # -- vCPUs and the VMM loop -----------------------------------------------
    def new_vcpu(self):
        """A vCPU of this CPU's vendor, its nested page-table root set."""
        if self.arch == "intel":
            from hv.vcpu.vmx.vcpu import VmxVCpu as Back
        elif self.arch == "amd":
            from hv.vcpu.svm.vcpu import SvmVCpu as Back
        else:
            raise NotImplementedError("no vCPU back end for %r" % (self.arch,))
        c = Back(self, self.allocator, self.io, self.native)
        try:
            c.set_ept_root(self.npt.root)
        except BaseException:
            c.close()
            raise
        self.vcpus.append(c)
        return c

    def run(self, vcpu=None, **options):
        """Run a vCPU under the small VMM (hv.vmm.run.Vmm.run: trace, echo,
        max_exits, stop) until it halts, shuts down, writes port 0xF4 or
        stop(exit) says so; a RunResult."""
        if vcpu is None:
            vcpu = self.vcpus[0] if self.vcpus else self.new_vcpu()
        return self.vmm.run(vcpu, **options)

    def owned_frames(self):
        return sum(_LARGE_FRAMES if k < 0 else 1 for k in self._owned)

    def close(self):
        """Close the vCPUs and return every frame the VM took (also what a
        half-built VM took); a second close() does nothing."""
        vcpus, self.vcpus = self.vcpus, []
        try:
            for c in vcpus:
                # Guest RIPs near 1 MiB in the exit ring look like pointers into
                # the kernel's heap to MicroPython's conservative GC: wiped,
                # they pin nothing (the registers stay readable after close);
                # so does the RIP behind the last exit (exit_rip).
                c.ring.wipe()
                c._erip[0] = 0
                c.close()
                # Its tables hold the platform's bound handlers: dropped, a
                # stale word that reads as a pointer to the vCPU keeps the
                # vCPU, not every device (the GC is conservative).
                for t in (c.io_in, c.io_out, c.msr_in, c.msr_out):
                    t.clear()
                c.register_ram_fault(None)
        finally:
            for k in self._owned:
                if k < 0:
                    self.allocator.dealloc_frames(self._large[-k - 1], _LARGE_FRAMES)
                else:
                    self.allocator.dealloc_frame(self._pages[k])
            self._owned = set()
            self._split = set()
            self._pages, self._large = {}, {}
            vmm = getattr(self, "vmm", None)    # absent when the build failed before it
            if vmm is not None:
                vmm.close()
            if self.npt is not None:
                self.npt.close()
                self.npt = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run_guest(image, mode, mem_size=16 << 20, load=0x10000, ports=None, msrs=None,
              allocator=None, **options):
    """The REPL one-liner: a VM with mem_size of RAM, image written at load
    and entered there in mode ('real', 'protected', 'long'), run under the
    VMM (ports/msrs: values it answers) and closed. A RunResult."""
    vm = VM(mem_size, allocator)
    try:
        c = vm.new_vcpu()
        vm.write(load, image)
        c.set_entry(load)
        c.setup(mode)
        vm.vmm.ports.update(ports or {})
        vm.vmm.msrs.update(msrs or {})
        return vm.run(c, **options)
    finally:
        vm.close()
