"""The stock Linux guest from the harness' side (host tool, CPython): where
`make linux` put it, the two plain-QEMU machines it is measured on (the
baseline mpvisor is compared against), an ISO of mpvisor with it as GRUB
modules, hv.boot of it at the raw REPL, and a client for the busybox shell
its initramfs runs on the serial console (tools/linux/init).
"""
import os
import re
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LINUX_DIR = os.path.join(ROOT, "build", "linux")
KERNEL = os.path.join(LINUX_DIR, "bzImage")
INITRD = os.path.join(LINUX_DIR, "initramfs.cpio")
READY = re.compile(rb"MPVISOR-INITRAMFS-READY (\S+)\r?\n")     # /init's marker line
PROMPT = b"linux # "                                           # PS1 in tools/linux/init
LEGACY = "console=ttyS0 noapic nolapic acpi=off pci=off"        # the PIC, PIT and COM1 only
# A printk line on the console, timestamped; it may start inside a line the shell prints.
KERNEL_MESSAGE = re.compile(rb"\[ *\d+\.\d{6}\] [^\n]*\n")
RAW_END = re.compile(rb"\x04([^\x04]*)\x04>")                   # raw REPL: stdout \x04 stderr \x04 >
# Bochs' speed for Linux under mpvisor: 100 MIPS (its default in
# qemu/launch.py, 10 MIPS, is a CPU some 300 times slower than hardware).
# mpvisor's per-tick work is Python, ~400,000 instructions for the legacy
# PC's tick (the PIT's edge, three PIC writes, the injection): 40 ms of
# emulated time at 10 MIPS against Linux's 4 ms tick, 4 ms at 100 MIPS.
# Bochs' TSC runs at `ips` and mpvisor tells the guest so (CPUID 15H/16H,
# hv.vcpu.cpuid), where Bochs' own leaves say 3.5 GHz.
BOCHS_IPS = 100_000_000

# Plain QEMU TCG booting the kernel itself (its linuxboot option ROM):
# `pc` with the kernel's defaults (LAPIC, I/O APIC, ACPI), and `microvm`
# with only PIC, PIT and COM1, the platform mpvisor had first.
PC = dict(machine="pc", cpu="qemu64", append="console=ttyS0")
MICROVM = dict(machine="microvm,acpi=off,rtc=off,pit=on,pic=on", cpu="qemu64,-apic",
               # reboot=t: straight to the triple fault (a reset, which -no-reboot
               # ends), not first the 8042 microvm lacks with its delays (seen
               # taking over 60 s on a loaded machine)
               append="console=ttyS0 noapic nolapic acpi=off pci=off reboot=t")


def make_iso(elf, path, cmdline=LEGACY):
    """An ISO of mpvisor (`elf`) whose default GRUB entry is the REPL with
    the kernel (its module line: `cmdline`) and the initramfs as modules."""
    for module in (KERNEL, INITRD):
        if not os.path.exists(module):
            raise FileNotFoundError(f"{module} is missing: build it with `make linux`")
    entry = f"linux modules||{KERNEL} {cmdline}|{INITRD}"      # the REPL, no run=
    subprocess.run([os.path.join(ROOT, "qemu/mkiso.sh"), elf, str(path), "", entry], check=True,
                   env=dict(os.environ, GRUB_DEFAULT="1", GRUB_TIMEOUT="0"))


def start(repl, args=""):
    """hv.boot of the kernel and initramfs, sent to the raw REPL (where
    `import hv` and free0 = hv.frames.free_count() were done) and left
    running; it prints RESULT <reason> <frames all back> <output length>."""
    repl.send_raw_code("r = hv.boot('bzImage', initrd='initramfs.cpio'%s)\n"
                       "print('RESULT', r.reason, hv.frames.free_count() == free0, len(r.output))"
                       % args)
    assert repl.m.read_until(b"OK", 30) == b"OK"


def to_the_shell(repl, args="", boot_timeout=600, timeout=120):
    """start(), then the shell's first prompt: its release is the kernel's
    (`uname -r` too) and a file written to tmpfs reads back; the Shell."""
    want = release()
    start(repl, args)
    shell = Shell(repl.m, timeout=timeout)
    got = shell.wait_ready(boot_timeout)
    assert got == want, (got, want)
    got = shell.run("uname -r")
    assert got == [want], got
    got = shell.run("echo mpvisor > /tmp/f; cat /tmp/f; grep -c ' /tmp tmpfs' /proc/mounts")
    assert got == ["mpvisor", "1"], got
    return shell


def finish(repl, timeout=300):
    """The raw REPL's answer once hv.boot returned: (stdout, stderr) text."""
    out = repl.m.read_until(RAW_END, timeout)
    m = RAW_END.search(out)
    return out[:m.start()].decode(errors="replace"), m.group(1).decode(errors="replace")


def recover(repl, timeout=120):
    """After a test that failed with hv.boot perhaps still running: Ctrl-\\
    stops the guest (the VM kept as hv.last_vm; at the raw prompt the byte
    is only typed), back to the raw REPL, and that VM closed, so the
    module's next test starts with every frame back instead of failing on
    the last one's guest."""
    repl.m.write(b"\x1c")
    repl.enter_raw(timeout)
    repl.exec("if hv.last_vm is not None:\n    hv.last_vm.close()\n    hv.last_vm = None",
              timeout)


def release():
    """The kernel's `uname -r`, as build/linux/VERSION records it."""
    with open(os.path.join(LINUX_DIR, "VERSION")) as f:
        return dict(line.split(None, 1) for line in f.read().splitlines())["release"]


class Shell:
    """The guest's shell over a SerialLink (a launch.Machine)."""

    def __init__(self, link, timeout=30):
        self.link, self.timeout = link, timeout

    def wait_ready(self, timeout=180):
        """Wait for /init's marker and the first prompt; the release the
        marker names. The link's matched_at then stamps the prompt."""
        m = READY.search(self.link.read_until(READY, timeout))
        self.link.read_until(PROMPT, timeout)
        return m.group(1).decode()

    def run(self, command, timeout=None):
        """Type a command and wait for the next prompt; its output lines
        (the echoed command, escape sequences, CRs and kernel messages
        left out: the kernel prints to the same console whenever it likes,
        e.g. "hrtimer: interrupt took 14544028 ns" on a loaded host)."""
        self.link.write(command.encode() + b"\n")
        out = self.link.read_until(PROMPT, timeout or self.timeout)[:-len(PROMPT)]
        out = KERNEL_MESSAGE.sub(b"", out)
        text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", out).decode("utf-8", "replace")
        lines = [line.rstrip("\r") for line in text.split("\n")]
        if lines and lines[0].strip() == command.strip():
            lines = lines[1:]
        return [line for line in lines if line]
