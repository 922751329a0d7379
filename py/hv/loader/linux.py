# Putting a Linux bzImage into a VM as a 32/64-bit boot protocol loader would
# (Documentation/arch/x86/boot.rst, "32-bit Boot Protocol", "64-bit Boot
# Protocol"): kernel, initrd, command line and boot_params in guest RAM, and
# the first vCPU at the 64-bit entry or at code32_start. Arch-neutral; behind
# vm.load_linux. The placement (plan) is pure and host-tested.
from micropython import const
from hv.loader import bzimage, mbinfo, zeropage
from hv.loader.mbload import ImageError, LOW_RAM_END
from hv.x86.guest_tables import LINUX_BOOT_CS, TABLES_GPA
from hv.x86.regs import RBP, RBX, RDI, RSI

# Guest-physical layout below 1 MiB (the kernel reserves all of it early).
BOOT_PARAMS = const(0x10000)    # the zero page, past the GDT and page tables setup() writes
                                # at TABLES_GPA (at most 0x1000-0x7FFF: hv.x86.guest_tables)
CMDLINE = const(0x11000)        # up to cmdline_size + 1 bytes, below the EBDA
_PAGE = const(0x1000)
_LARGE = const(0x200000)


class Plan:
    """Where each piece goes: `kernel` (bzimage.BzImage) at
    kernel.load_address, the initrd at initrd_gpa, the command line (bytes,
    NUL-terminated) at CMDLINE, `boot_params` (bytes) at BOOT_PARAMS; enter
    in `mode` ('long' or 'protected') at `entry`."""

    def __init__(self, kernel, mode, entry, cmdline, initrd_gpa, initrd_size, regions):
        self.kernel, self.mode, self.entry = kernel, mode, entry
        self.cmdline, self.initrd_gpa, self.initrd_size = cmdline, initrd_gpa, initrd_size
        self.regions = regions
        self.boot_params = None

    def __repr__(self):
        return "<Linux %s, entry 0x%x (%s), initrd %d bytes at 0x%x>" % (
            self.kernel.kernel_version, self.entry, self.mode, self.initrd_size, self.initrd_gpa)


def memory_map(mem_size, reserved=()):
    """(addr, size, e820 type) of the guest: the PC map load_multiboot also
    reports (hv.loader.mbinfo), with `reserved` (addr, size, e820 type)
    regions (e.g. ACPI tables) cut out of it and added."""
    out = []
    for addr, size, kind in mbinfo.memory_map(mem_size):
        pieces = [(addr, addr + size)]
        for ra, rs, _ in reserved:
            pieces = [p for a, e in pieces for p in ((a, min(e, ra)), (max(a, ra + rs), e)) if p[0] < p[1]]
        out += [(a, e - a, zeropage.E820_RAM if kind == 1 else zeropage.E820_RESERVED) for a, e in pieces]
    return out + [tuple(r) for r in reserved]


def _ram_holds(regions, start, end):
    return any(t == zeropage.E820_RAM and a <= start and end <= a + s for a, s, t in regions)


def _initrd_gpa(kernel, regions, mem_size, size):
    # As high as it goes (boot.rst, mem=: "an initrd should be placed near
    # end of memory"), below initrd_addr_max and RAM's end, above the kernel.
    limit = min(kernel.initrd_addr_max + 1, mem_size, 1 << 32)
    for a, s, t in sorted(regions, reverse=True):
        if t != zeropage.E820_RAM:
            continue
        gpa = (min(a + s, limit) - size) & ~(_PAGE - 1)
        if gpa >= max(a, kernel.memory_end):
            return gpa
    raise ImageError("the initrd (%d bytes) does not fit in guest RAM between the kernel's end 0x%x "
                     "and 0x%x (RAM 0x%x bytes, initrd_addr_max 0x%x)"
                     % (size, kernel.memory_end, limit, mem_size, kernel.initrd_addr_max))


def plan(image, mem_size, initrd_size=0, cmdline="", mode=None, rsdp=0, reserved=()):
    """Check a kernel and say how to load it into a guest with RAM [0,
    mem_size); mode None takes the 64-bit entry where the kernel has one.
    ImageError names what is wrong; nothing is touched."""
    k = bzimage.parse(image)
    if mode is None:
        mode = "long" if k.entry64 else "protected"
    if mode not in ("long", "protected"):
        raise ValueError("mode must be 'long' or 'protected', not %r" % (mode,))
    if mode == "long" and not k.entry64:
        raise ImageError("the kernel has no 64-bit entry point (xloadflags XLF_KERNEL_64 clear, protocol %s)"
                         % k.protocol)
    regions = memory_map(mem_size, reserved)
    if len(image) > mem_size or not _ram_holds(regions, k.load_address, k.memory_end):
        raise ImageError("the kernel needs RAM 0x%x-0x%x (its load address and init_size 0x%x); "
                         "the guest has 0x%x bytes" % (k.load_address, k.memory_end, k.init_size, mem_size))
    line = cmdline.encode() if isinstance(cmdline, str) else bytes(cmdline)
    if b"\0" in line:
        raise ValueError("the command line contains a NUL byte")
    if len(line) > k.cmdline_size or CMDLINE + len(line) + 1 > LOW_RAM_END:
        raise ImageError("the command line is %d bytes; this kernel takes at most %d (cmdline_size)"
                         % (len(line), k.cmdline_size))
    initrd_gpa = _initrd_gpa(k, regions, mem_size, initrd_size) if initrd_size else 0
    entry = k.load_address + (bzimage.ENTRY64_OFFSET if mode == "long" else 0)
    p = Plan(k, mode, entry, line + b"\0", initrd_gpa, initrd_size, regions)
    p.boot_params = zeropage.build(k, regions, CMDLINE, initrd_gpa, initrd_size, rsdp)
    return p


def _premap(vm, gpa, size):
    # The 2 MiB blocks [gpa, gpa+size) lies in, inside guest RAM: 2 MiB pages
    # where the allocator has aligned runs (VM.map_ram), so vm.write() that
    # follows maps no 4 KiB pages of its own.
    start = gpa & ~(_LARGE - 1)
    end = min((gpa + size + _LARGE - 1) & ~(_LARGE - 1), vm.mem_size)
    vm.map_ram(start, end - start)


def load_linux(vm, image, initrd=None, cmdline="", mode=None, rsdp=0, reserved=()):
    """Check the kernel (ImageError names what is wrong; the VM is untouched
    then), write it, the initrd, the command line and boot_params into
    guest RAM and set up the first vCPU as the boot protocol says: flat
    __BOOT_CS (0x10) / __BOOT_DS (0x18), interrupts off, RSI = boot_params;
    long mode identity-maps guest RAM (the kernel, boot_params and command
    line among it); protected mode has paging off and EBP = EDI = EBX = 0."""
    initrd_size = len(initrd) if initrd else 0
    p = plan(image, vm.mem_size, initrd_size, cmdline, mode, rsdp, reserved)
    c = vm.vcpus[0] if vm.vcpus else vm.new_vcpu()
    # The kernel touches most of its RAM: back it in 2 MiB pages (the
    # kernel and initrd now, the rest on first touch), not 4 KiB ones.
    vm.large_faults = True
    _premap(vm, p.kernel.load_address, len(p.kernel.payload))
    if initrd_size:
        _premap(vm, p.initrd_gpa, initrd_size)
    c.set_entry(p.entry)
    c.setup(p.mode, TABLES_GPA, LINUX_BOOT_CS)        # also RFLAGS = 0x2: IF = 0
    vm.write(p.kernel.load_address, p.kernel.payload)
    if initrd_size:
        vm.write(p.initrd_gpa, initrd)
    vm.write(CMDLINE, p.cmdline)
    vm.write(BOOT_PARAMS, p.boot_params)
    for r in (RBP, RDI, RBX):
        c.set_gpr(r, 0)
    c.set_gpr(RSI, BOOT_PARAMS)
    vm.kernel = p
    return c
