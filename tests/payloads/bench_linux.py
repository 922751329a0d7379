# The stock Linux guest's boot under mpvisor, counted: every exit the VMM
# sees to the shell's first prompt, by reason (I/O by device), and the time
# it took; whether a given amount of guest RAM reaches the shell; the
# emulated time to the prompt under Bochs. For bench/linux.py; sent to the
# target (tests/payloads/). Bare-metal port.
import hv
import hw

PROMPT = b"linux # "


def _key(e, names):
    r = e.reason
    if r == "IoRead" or r == "IoWrite":
        return "%s %s" % (r, names.get(e.port, "port %#x" % e.port))
    if r == "SysRegRead" or r == "SysRegWrite":
        return "%s %#x" % (r, e.msr)
    return r


def exits_to_shell(cmdline, mem=None):
    """(RunResult reason, {exit kind: count}, exits, seconds) of a boot of
    the GRUB modules bzImage + initramfs.cpio until the shell's prompt;
    every exit goes through the VMM (stop() sees it), which slows the boot."""
    counts = {}
    names = None
    vm_box = []

    def stop(e):
        k = _key(e, names)
        counts[k] = counts.get(k, 0) + 1
        return PROMPT in vm_box[0].vmm.uart.output[-16:]
    orig = hv.VM

    def make(m):
        vm = orig(m)
        vm_box.append(vm)
        return vm
    hv.VM = make
    try:
        names = {}
        t0 = hw.rdtsc()
        # names come from the platform once the VM exists: filled lazily
        def first_stop(e):
            if not names:
                names.update(vm_box[0].vmm.platform.names)
            return stop(e)
        r = hv.boot("bzImage", initrd="initramfs.cpio", cmdline=cmdline, mem=mem, echo=False,
                    stop=first_stop)
        seconds = (hw.rdtsc() - t0) / hw.tsc_hz()
    finally:
        hv.VM = orig
    return r.reason, counts, r.exits, seconds


def _to_prompt(cmdline, mem, budget):
    # hv.boot until the shell's prompt (a console marker, hv.vmm.console: no
    # exit leaves the vCPU for it): the RunResult, reason 'Shell' there.
    from hv.vmm.console import MARKERS
    orig = hv.VM

    def make(m):
        vm = orig(m)
        vm.vmm.markers = MARKERS + ((PROMPT, "Shell", True),)   # the prompt ends no line
        return vm
    hv.VM = make
    try:
        return hv.boot("bzImage", initrd="initramfs.cpio", cmdline=cmdline, mem=mem, echo=False,
                       time_budget=budget)
    finally:
        hv.VM = orig


def reaches_shell(cmdline, mem, budget=900):
    """How a boot with `mem` bytes of RAM ends: 'Shell' at the shell's
    prompt, else the RunResult reason, or the ImageError's text."""
    try:
        return _to_prompt(cmdline, mem, budget).reason
    except hv.ImageError as e:
        return "ImageError: %s" % e


def emulated_to_shell(cmdline, budget=3600):
    """(reason, seconds from the machine's reset to the shell's prompt,
    seconds from hv.boot to it, exits) by the TSC, which under Bochs
    (clock: sync=none) counts emulated time from the reset; the kernel's
    default devices (hv.boot's apic=True for a bzImage)."""
    t0 = hw.rdtsc()
    r = _to_prompt(cmdline, None, budget)
    t1, hz = hw.rdtsc(), hw.tsc_hz()
    return r.reason, t1 / hz, (t1 - t0) / hz, r.exits
