# Putting a kernel into a VM: a multiboot (v1) kernel as a multiboot loader
# would (its segments, the information structure, 32-bit protected mode with
# EAX = 0x2BADB002 and EBX = the info address: Multiboot 0.6.96, 3.2), or a
# raw binary at an address in a given mode. Arch-neutral; behind vm.load_*.
from micropython import const
from hv.loader import mbinfo, mbload
from hv.x86.guest_tables import TABLES_GPA, tables_end
from hv.x86.regs import RAX, RBX

_ZEROS = const(0x10000)


def _vcpu(vm):
    return vm.vcpus[0] if vm.vcpus else vm.new_vcpu()


def load_multiboot(vm, image, cmdline="", loader_name="mpvisor"):
    """Check the image (mbload.ImageError names what is wrong; the VM is
    untouched then), copy its segments, zero their bss, write the info
    structure at mbload.INFO_BASE and set up the first vCPU. Returns it."""
    plan = mbload.plan(image, vm.mem_size)
    info = mbinfo.build(vm.mem_size, cmdline, loader_name)
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
    vm.write(mbload.INFO_BASE, info)
    plan.info_gpa = mbload.INFO_BASE
    plan.info = [(mbload.INFO_BASE, info)]
    c.set_gpr(RAX, mbload.BOOTLOADER_MAGIC)
    c.set_gpr(RBX, mbload.INFO_BASE)
    vm.kernel = plan
    return c


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
