# A virtual machine: guest-physical RAM from 0 to mem_size backed on demand
# by frames from a PhysFrameIf and mapped by nested page tables (hv.npt.paging),
# its vCPUs, and vm.run(), the small VMM loop (hv.vmm.run). Runs on the
# bare-metal port and on CPython (host tests, with fake io/native modules).
import struct
from micropython import const
from hv.npt import paging
from hv.vcpu.cpuid import CpuidPolicy
from hv.host.frame import OutOfFrames, default_allocator, out_of_frames

PAGE = const(0x1000)
_LARGE = const(0x200000)
_LARGE_FRAMES = const(512)
_ZERO_PAGE = bytes(PAGE)            # shared by every _zero()


class VM:
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
            self.cpuid = CpuidPolicy(io.cpuid)
            from hv.vmm.run import Vmm
            self.vmm = Vmm(self)
            if prealloc:
                self.map_ram(0, mem_size)
        except BaseException:
            self.close()            # a VM that failed to build keeps no frame
            raise

    # -- guest-physical memory ------------------------------------------------
    def gpa_to_hpa(self, gpa):
        """Host-physical address backing gpa, or -1 when unmapped."""
        h = self._pages.get(gpa >> 12)
        if h is not None:
            return h | (gpa & 0xFFF)
        h = self._large.get(gpa >> 21)
        if h is not None:
            return h | (gpa & 0x1FFFFF)
        return -1

    def read_phys64(self, gpa):
        h = self.gpa_to_hpa(gpa)
        return self._read64(h) if h >= 0 else 0

    def map(self, gpa, hpa, size, perms="rwx"):
        """Map host memory the caller owns (the VM never frees it)."""
        self.npt.map(gpa, hpa, size, perms)
        self._note(gpa, hpa, size, False)

    def _note(self, gpa, hpa, size, owned):
        end = gpa + size
        while gpa < end:
            if not (gpa | hpa) & (_LARGE - 1) and end - gpa >= _LARGE:
                self._large[gpa >> 21] = hpa
                if owned:
                    self._owned.add(-(gpa >> 21) - 1)
                step = _LARGE
            else:
                self._pages[gpa >> 12] = hpa
                self._split.add(gpa >> 21)
                if owned:
                    self._owned.add(gpa >> 12)
                step = PAGE
            gpa += step
            hpa += step

    def map_ram(self, gpa, size):
        """Back the unmapped pages of [gpa, gpa+size), inside guest RAM, with
        fresh zeroed frames. OutOfFrames (a MemoryError) when the allocator
        cannot give them; then nothing this call mapped stays mapped."""
        end = gpa + size
        if gpa < 0 or gpa & (PAGE - 1) or size <= 0 or end > self.mem_size:
            raise ValueError("RAM %#x+%#x is not pages inside guest RAM (%#x bytes)"
                             % (gpa, size, self.mem_size))
        need = self.unbacked(gpa, end)
        a = self.allocator
        free = a.free_count() if hasattr(a, "free_count") else need
        if need > free:
            raise OutOfFrames("guest RAM %#x-%#x" % (gpa, end), need, free)
        done = []
        try:
            while gpa < end:
                if self.gpa_to_hpa(gpa) >= 0:
                    gpa += PAGE
                    continue
                step = PAGE
                hpa = None
                if not gpa & (_LARGE - 1) and end - gpa >= _LARGE and \
                        self.npt.translate(gpa, _LARGE) is None:
                    hpa = a.alloc_frames(_LARGE_FRAMES, _LARGE_FRAMES)
                    if hpa is not None:
                        step = _LARGE
                if hpa is None:
                    hpa = a.alloc_frame()
                    if hpa is None:
                        raise out_of_frames(a, "guest RAM page %#x" % gpa, 1)
                self._back(gpa, hpa, step)
                done.append((gpa, step))
                gpa += step
        except BaseException:
            for g, n in done:
                self.unmap(g, n)
            raise

    def fault_in(self, gpa, device_in=None):
        """Back the RAM page at gpa (unmapped, inside guest RAM) with a fresh
        zeroed frame; with large_faults, the whole 2 MiB block around it as
        one 2 MiB page when none of the block is mapped yet, it lies inside
        guest RAM and the allocator has a 2 MiB-aligned run. Fewer, larger
        mappings keep the page dict (MicroPython heap) small for a guest such
        as Linux that touches most of its RAM. device_in(gpa, size): True
        if a device claims a page of that range (it never becomes RAM)."""
        base = gpa & ~(_LARGE - 1)
        if self.large_faults and base + _LARGE <= self.mem_size and \
                (gpa >> 21) not in self._split and (gpa >> 21) not in self._large and \
                not (device_in is not None and device_in(base, _LARGE)):
            hpa = self.allocator.alloc_frames(_LARGE_FRAMES, _LARGE_FRAMES)
            if hpa is not None:
                self._back(base, hpa, _LARGE)
                return
        self.map_ram(gpa & ~(PAGE - 1), PAGE)

    def unbacked(self, gpa, end):
        """Frames [gpa, end) (gpa page-aligned) still needs: its pages with
        no mapping yet."""
        n = 0
        while gpa < end:
            if gpa & (_LARGE - 1) == 0 and (gpa >> 21) in self._large:
                gpa += _LARGE
                continue
            if self.gpa_to_hpa(gpa) < 0:
                n += 1
            gpa += PAGE
        return n

    def _back(self, gpa, hpa, size):
        # Zero frames the VM now owns (a guest never sees a previous user's
        # data), then map them; frames go back if the tables cannot grow.
        try:
            self._zero(hpa, size)
            self.npt.map(gpa, hpa, size, paging.RWX)
        except BaseException:
            self.allocator.dealloc_frames(hpa, size // PAGE)
            raise
        self._note(gpa, hpa, size, True)

    def _zero(self, hpa, size):
        # One view per page: MicroPython's slice store into a view moves the
        # view's whole tail, so one view of 2 MiB made this quadratic.
        mem = self.io.mem
        for off in range(0, size, PAGE):
            mem(hpa + off, PAGE)[:] = _ZERO_PAGE

    def unmap(self, gpa, size):
        """Remove [gpa, gpa+size) from the guest; frames the VM allocated go
        back to the allocator, and every vCPU flushes its TLB."""
        g = gpa & ~(_LARGE - 1)
        while g < gpa + size:               # a 2 MiB page cut in part: 512 pages
            h = self._large.get(g >> 21)
            if h is not None and (g < gpa or g + _LARGE > gpa + size):
                del self._large[g >> 21]
                owned = -(g >> 21) - 1 in self._owned
                self._owned.discard(-(g >> 21) - 1)
                self._split.add(g >> 21)
                for k in range(_LARGE_FRAMES):
                    self._pages[(g >> 12) + k] = h + k * PAGE
                    if owned:
                        self._owned.add((g >> 12) + k)
            g += _LARGE
        for g, hpa, psize in self.npt.unmap(gpa, size):
            key = g >> 12 if psize == PAGE else -(g >> 21) - 1
            (self._pages if psize == PAGE else self._large).pop(g >> (12 if psize == PAGE else 21))
            if key in self._owned:
                self._owned.discard(key)
                self.allocator.dealloc_frames(hpa, psize // PAGE)
        for c in self.vcpus:
            c.flush_tlb()

    def _chunks(self, gpa, n, create):
        # (offset into the data, hpa or -1, length) per guest page.
        off = 0
        while off < n:
            g = gpa + off
            k = min(n - off, PAGE - (g & 0xFFF))
            h = self.gpa_to_hpa(g)
            if h < 0 and create:
                if g >= self.mem_size:
                    raise ValueError("%#x is outside guest RAM and unmapped" % g)
                self.map_ram(g & ~(PAGE - 1), PAGE)
                h = self.gpa_to_hpa(g)
            yield off, h, k
            off += k

    def write(self, gpa, data):
        """Copy bytes into guest memory, backing RAM pages as needed."""
        mv = memoryview(data)
        for off, h, k in self._chunks(gpa, len(data), True):
            self.io.mem(h, k)[:] = mv[off:off + k]

    def read(self, gpa, n):
        """n bytes of guest memory; unmapped pages read as zeros."""
        out = bytearray(n)
        view = memoryview(out)
        for off, h, k in self._chunks(gpa, n, False):
            if h >= 0:
                view[off:off + k][:] = self.io.mem(h, k)   # a page's view: no tail moved
        return bytes(out)

    def fetch(self, gpa, linear, buf, next_gpa):
        """16 bytes of instruction at gpa into buf; the bytes past the page
        end come from next_gpa(linear of the next page). False if unmapped."""
        h = self.gpa_to_hpa(gpa)
        if h < 0:
            return False
        r32 = self.io.read32
        n = PAGE - (gpa & 0xFFF)
        if n >= 16:
            struct.pack_into("<4I", buf, 0, r32(h), r32(h + 4), r32(h + 8), r32(h + 12))
            return True
        r8 = self.io.read8
        for i in range(n):
            buf[i] = r8(h + i)
        g2 = next_gpa(linear + n)
        h2 = self.gpa_to_hpa(g2) if g2 >= 0 else -1
        if h2 < 0:
            return False
        for i in range(16 - n):
            buf[n + i] = r8(h2 + i)
        return True

    # -- loading a guest (hv.loader.kernel) -------------------------------------------
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
