# Putting a kernel into a VM: a multiboot (v1) kernel as a multiboot loader
# would (its segments, boot modules, the information structure, 32-bit protected mode with
# EAX = 0x2BADB002 and EBX = the info address: Multiboot 0.6.96, 3.2), or a
# raw binary at an address in a given mode. Arch-neutral; behind vm.load_*.
from micropython import const
from hv.host.frame import OutOfFrames
from hv.loader import mbload, mbplace
from hv.x86.guest_tables import TABLES_GPA, tables_end
from hv.x86.regs import RAX, RBX

_ZEROS = const(0x10000)
_LARGE = const(0x200000)
PAGE = const(0x1000)


def _vcpu(vm):
    return vm.vcpus[0] if vm.vcpus else vm.new_vcpu()


def load_multiboot(vm, image, cmdline="", loader_name="mpvisor", modules=()):
    """Check the image and modules [(bytes-like, cmdline)] and place the
    information structure and the modules beside the kernel (ImageError
    names what is wrong, OutOfFrames that the host has too few frames; the
    VM is untouched then), copy the segments, zero their bss, write the
    modules and the info and set up the first vCPU. Returns it."""
    plan = mbload.plan(image, vm.mem_size)
    mbplace.place(plan, vm.mem_size, cmdline, loader_name, modules)
    _enough_frames(vm, plan)
    c = _vcpu(vm)
    # Flat 4 GiB code and data segments, paging off, IF = 0 (3.2); the GDT
    # setup() writes at TABLES_GPA may be overwritten by the kernel: the spec
    # leaves GDTR undefined and the segment registers stay loaded.
    c.set_entry(plan.entry)
    c.setup("protected")
    for gpa, data, memsz in plan.segments:
        vm.write(gpa, data)
        gpa += len(data)
        end = gpa + memsz - len(data)
        while gpa < end:
            n = min(end - gpa, _ZEROS)
            vm.write(gpa, bytes(n))
            gpa += n
    for (start, end, _), (data, _) in zip(plan.modules, modules):
        _map_large(vm, start, end)
        vm.write(start, data)
    for gpa, blob in plan.info:
        vm.write(gpa, blob)
    c.set_gpr(RAX, mbload.BOOTLOADER_MAGIC)
    c.set_gpr(RBX, plan.info_gpa)
    vm.kernel = plan
    return c


def _ranges(plan):
    return ([(g, g + m) for g, _, m in plan.segments] + [(s, e) for s, e, _ in plan.modules]
            + [(g, g + len(b)) for g, b in plan.info])


def _enough_frames(vm, plan):
    # Fail before the first write, not halfway with frames mapped.
    a = vm.allocator
    if not hasattr(a, "free_count"):
        return
    need = sum(vm.unbacked(s & ~(PAGE - 1), e) for s, e in _ranges(plan) if e > s)
    if need > a.free_count():
        raise OutOfFrames("the kernel, its modules and the multiboot information", need, a.free_count())


def _map_large(vm, start, end):
    # The whole 2 MiB blocks of a module as 2 MiB pages where the allocator
    # has aligned runs: a module of megabytes maps a few pages, not
    # hundreds of 4 KiB ones in the VM's page dict (MicroPython heap).
    lo = (start + _LARGE - 1) & ~(_LARGE - 1)
    hi = end & ~(_LARGE - 1)
    if hi > lo:
        vm.map_ram(lo, hi - lo)


def load_flat(vm, data, gpa, entry, mode):
    """Raw code at gpa, entered at entry in mode 'real' (CS:IP, e.g. a boot
    sector at 0x7C00), 'protected' or 'long' (flat, identity-mapped). There
    is no BIOS: the code talks to the devices directly. Returns the vCPU."""
    if mode not in ("real", "protected", "long"):
        raise ValueError("mode must be 'real', 'protected' or 'long', not %r" % (mode,))
    end = gpa + len(data)
    if gpa < 0 or end > vm.mem_size:
        raise ValueError("0x%x-0x%x lies outside guest RAM (0x%x bytes)" % (gpa, end, vm.mem_size))
    if not gpa <= entry < end:
        raise ValueError("entry 0x%x is outside the loaded bytes 0x%x-0x%x" % (entry, gpa, end))
    tables = tables_end(TABLES_GPA, mode, vm.mem_size)
    if gpa < tables and end > TABLES_GPA:
        raise ValueError("0x%x-0x%x overlaps the tables setup(%r) writes at 0x%x-0x%x"
                         % (gpa, end, mode, TABLES_GPA, tables))
    if mode == "real" and end > 0x100000:
        raise ValueError("real-mode code must lie below 1 MiB")
    c = _vcpu(vm)
    c.set_entry(entry)
    c.setup(mode)
    vm.write(gpa, data)
    vm.kernel = None
    return c
