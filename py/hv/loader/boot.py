# hv.boot(): one call from a kernel image to its result. Finds the image
# among the multiboot modules GRUB loaded (`module` lines, named by the first
# word of their command line) or the demo guests built into mpvisor (module
# `demos`), loads it into a fresh VM as a multiboot loader would, with its
# boot modules (or, for a Linux bzImage, as its boot protocol says) and runs
# it. Bare-metal port.
import hv
import multiboot

MULTIBOOT_MEM = 32 << 20
LINUX_MEM = 128 << 20       # a stock kernel decompresses at 16 MiB and needs ~52 MiB from there
DETACH_KEY = 0x1C           # Ctrl-\: while a Linux guest has the console, back to the REPL
_CTRL_C = 0x03


def _demos():
    try:
        import demos
    except ImportError:
        return {}
    return demos.ALL


def images():
    """Names hv.boot() accepts: the boot modules' names (the first word of
    their command line: `module /boot/modules/k.elf k.elf args` in grub.cfg)
    and the demo guests built into the image."""
    return [m.name for m in multiboot.info().modules if m.name] + sorted(_demos())


def find(name):
    """(image, cmdline) of the boot module named `name`, whose cmdline is
    its own, or of demo guest `name` (cmdline = name). ValueError if there
    is none or more than one."""
    found = [(_module_bytes(m), m.cmdline) for m in multiboot.info().modules
             if m.name and m.name == name]
    demo = _demos().get(name)
    if demo is not None:
        found.append((demo, name))
    if len(found) != 1:
        raise ValueError("%s image named %r; hv.images() lists them: %s"
                         % ("no" if not found else "more than one", name, images()))
    return found[0]


def _module_bytes(module):
    import hw
    return hw.mem(module.start, module.end - module.start)   # no copy: mbload reads it in place


def linux_cmdline(module_cmdline):
    # A module's line starts with its name, which Linux would hand to /init
    # as an argument: the kernel gets the rest.
    return module_cmdline.partition(" ")[2].strip()


def kind(image):
    """'linux' (a bzImage), 'multiboot' (a multiboot header in the first 8
    KiB, valid or not: hv.boot names what is wrong) or None (data)."""
    from hv.loader.bzimage import is_bzimage
    from hv.loader.mbload import ImageError, find_header
    if is_bzimage(image):
        return "linux"
    try:
        find_header(image)
    except ImageError as e:
        return None if "no multiboot header" in str(e) else "multiboot"
    return "multiboot"


def pairs(modules, kinds):
    """[(kernel module, its kind, [its data modules])] in module order;
    kinds[i] is kind() of module i's bytes. A bzImage takes the one data
    module after it as its initrd (GRUB's `linux` + `initrd`), a multiboot
    kernel every data module after it as its boot modules (`multiboot` +
    `module`). A data module that follows no kernel, or a bzImage that
    has its initrd, is left out, with a line saying so."""
    out = []
    for m, k in zip(modules, kinds):
        if k is None and out and (out[-1][1] == "multiboot" or not out[-1][2]):
            out[-1][2].append(m)
        elif k is None:
            print("autoboot: %s: neither a kernel nor a module of the kernel before it; skipped" % m.name)
        else:
            out.append((m, k, []))
    return out


def boot(image, cmdline=None, mem=None, initrd=None, modules=None, trace=False, echo=True,
         prefix=None, apic=None, strict=None, **options):
    """Boot a multiboot kernel or a Linux bzImage (bytes, or a name from
    hv.images()) in a new VM with `mem` bytes of RAM (default 32 MiB, 128
    MiB for Linux) and run it to completion; the RunResult (r.result: what
    it wrote to port 0xF4). initrd: a Linux initrd (bytes or a name from
    hv.images()); a named bzImage's command line is its module line less
    the name. modules: a multiboot kernel's boot modules, [(bytes or a
    name from hv.images(), cmdline)], placed page-aligned in guest RAM
    as GRUB's `module` lines would be (vm.load_multiboot; ImageError
    names a malformed one). trace=True prints every exit; strict=True
    (default: as trace) ends the VM at a port no device handles instead
    of reading all ones there (vm.vmm.unhandled_io 'stop', not 'pc');
    apic=True gives the guest a local APIC and the I/O APIC
    (vm.vmm.enable_apic()), the default for Linux (the PC its defaults
    expect), not for a multiboot kernel (None: so chosen);
    prefix: the guest's COM1 line prefix ('' for none, the default for
    Linux, whose shell then has the terminal); options go to vm.run
    (max_exits, time_budget, stop, reraise). When the VMM ended the VM (a
    triple fault, a kernel panic, an unhandled port, a budget spent, a
    handler's exception, ...) it prints r.report, which ends with the
    guest's last console lines. Ctrl-C stops the guest and keeps the VM as
    hv.last_vm for inspection; for Linux with echo on, Ctrl-C goes to the
    guest (its shell) and Ctrl-\\ (DETACH_KEY) does that instead."""
    from hv.loader.bzimage import is_bzimage     # the loaders: on first use, not at boot
    if isinstance(image, str):
        image, default_cmdline = find(image)
        if cmdline is None:
            cmdline = linux_cmdline(default_cmdline) if is_bzimage(image) else default_cmdline
    if isinstance(initrd, str):
        initrd = find(initrd)[0]
    linux = is_bzimage(image)
    if initrd is not None and not linux:
        raise ValueError("initrd= is for a Linux bzImage; this kernel is not one")
    if modules and linux:
        raise ValueError("modules= is for a multiboot kernel; a bzImage takes initrd=")
    modules = [_named(m) for m in modules or ()]
    if mem is None:
        mem = LINUX_MEM if linux else MULTIBOOT_MEM
    vm = hv.VM(mem)
    try:
        if linux:
            vm.load_linux(image, initrd, cmdline or "")
        else:
            vm.load_multiboot(image, cmdline or "", modules)
        vm.trace = trace
        if prefix is None and linux:
            prefix = ""
        if trace if strict is None else strict:
            vm.vmm.unhandled_io = "stop"
        if linux if apic is None else apic:
            vm.vmm.enable_apic()
        if prefix is not None:
            vm.vmm.uart.prefix = prefix
        detach = linux and echo
        if detach:
            print("hv.boot: Linux has the console; Ctrl-\\ returns to the mpvisor REPL")
        r = _run(vm, detach, echo=echo, report=True, **options)
    except KeyboardInterrupt:
        hv.last_vm = vm
        print("hv.boot: stopped by %s; the VM is hv.last_vm (vcpus[0].regs(), "
              "read(gpa, n), close())" % ("Ctrl-\\" if detach else "Ctrl-C"))
        raise
    except BaseException:
        vm.close()
        raise
    vm.close()
    return r


def _named(module):
    # (name, cmdline) -> (the image named so, cmdline); anything else as it
    # is, for vm.load_multiboot to check.
    if isinstance(module, (tuple, list)) and len(module) == 2 and isinstance(module[0], str):
        return find(module[0])[0], module[1]
    return module


def _run(vm, detach, **options):
    # detach: the interrupt key is DETACH_KEY while the guest runs, so the
    # Ctrl-C byte reaches its console (micropython.kbd_intr, MICROPY_KBD_EXCEPTION).
    if not detach:
        return vm.run(**options)
    import micropython
    micropython.kbd_intr(DETACH_KEY)
    try:
        return vm.run(**options)
    finally:
        micropython.kbd_intr(_CTRL_C)

