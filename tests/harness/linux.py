"""The stock Linux guest from the harness' side (host tool, CPython): where
`make linux` put it, the two plain-QEMU machines it is measured on (the
baseline mpvisor is compared against), and a client for the busybox shell
its initramfs runs on the serial console (tools/linux/init).
"""
import os
import re

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LINUX_DIR = os.path.join(ROOT, "build", "linux")
KERNEL = os.path.join(LINUX_DIR, "bzImage")
INITRD = os.path.join(LINUX_DIR, "initramfs.cpio")
READY = re.compile(rb"MPVISOR-INITRAMFS-READY (\S+)\r?\n")     # /init's marker line
PROMPT = b"linux # "                                           # PS1 in tools/linux/init

# Plain QEMU TCG booting the kernel itself (its linuxboot option ROM):
# `pc` with the kernel's defaults (LAPIC, I/O APIC, ACPI), and `microvm`
# with only PIC, PIT and COM1, the platform mpvisor had first.
PC = dict(machine="pc", cpu="qemu64", append="console=ttyS0")
MICROVM = dict(machine="microvm,acpi=off,rtc=off,pit=on,pic=on", cpu="qemu64,-apic",
               # reboot=t: straight to the triple fault (a reset, which -no-reboot
               # ends), not first the 8042 microvm lacks with its delays (seen
               # taking over 60 s on a loaded machine)
               append="console=ttyS0 noapic nolapic acpi=off pci=off reboot=t")


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
        (the echoed command, escape sequences and CRs left out)."""
        self.link.write(command.encode() + b"\n")
        out = self.link.read_until(PROMPT, timeout or self.timeout)[:-len(PROMPT)]
        text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", out).decode("utf-8", "replace")
        lines = [line.rstrip("\r") for line in text.split("\n")]
        if lines and lines[0].strip() == command.strip():
            lines = lines[1:]
        return [line for line in lines if line]
