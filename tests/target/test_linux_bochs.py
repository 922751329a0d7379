# The stock Linux guest (`make linux`) under mpvisor on Bochs 2.7's Intel
# CPU (corei7_skylake_x: VMX with EPT, unrestricted guest, VPID) at 100 MIPS
# (linux.BOCHS_IPS), booted as a user boots it: an ISO whose GRUB entry loads
# the kernel and initramfs as modules, hv.boot() at the REPL. The kernel's
# defaults with the APICs and ACPI to the shell, commands typed, poweroff
# through ACPI S5, reboot as a reset; the legacy PC (noapic nolapic
# acpi=off pci=off: the 8259A, the 8254 and COM1) to the shell and a halt.
# Every frame comes back and the REPL lives on. Bochs' ryzen:
# test_linux_bochs_amd.py.
import re

import pytest

from conftest import bochs_linux
from harness import linux

pytestmark = pytest.mark.usefixtures("guest_stopped_on_failure")

BOOT_TIMEOUT = 900          # to the shell: ~2 min idle, several times that under load


@pytest.fixture(scope="module")
def repl(tmp_path_factory):
    with bochs_linux(tmp_path_factory, "corei7_skylake_x", "intel") as r:
        yield r


def test_kernel_defaults_to_the_shell_then_poweroff_through_s5(repl):
    shell = linux.to_the_shell(repl, ", cmdline='console=ttyS0', apic=True", BOOT_TIMEOUT, 300)
    irqs = "\n".join(shell.run("cat /proc/interrupts"))
    # No PIT interrupt: with the TSC-deadline timer and ARAT (this CPU has
    # both; qemu64 has not) Linux needs no PIT (apic_needs_pit()).
    assert re.search(r"^\s+4:\s+[1-9]\d*\s+IO-APIC\s+4-edge\s+ttyS0$", irqs, re.M), irqs
    assert not re.search(r"^\s+0:", irqs, re.M)
    assert re.search(r"^LOC:\s+[1-9]\d*\s+Local timer interrupts$", irqs, re.M)   # the LAPIC timer
    # This CPU's XSAVE, with the CPUID bits that follow the guest (its XCR0's
    # area size; OSXSAVE, whose absence made busybox's XGETBV #UD), and no
    # MSR the kernel touches because CPUID promised it (TSC_ADJUST, thermal).
    boot_log = repl.m.output
    # The TSC's rate as Bochs runs it (its `ips`), from mpvisor's CPUID
    # 15H/16H: Bochs' own say 3.5 GHz (hv.vcpu.cpuid).
    assert b"tsc: Detected %d.000 MHz processor" % (linux.BOCHS_IPS // 1_000_000) in boot_log
    assert re.search(rb"x86/fpu: Enabled xstate features 0x\w+, context size is \d+ bytes", boot_log)
    assert b"XSAVE consistency problem" not in boot_log and b"unchecked MSR access" not in boot_log
    assert b"[ cut here ]" not in boot_log                     # no WARN() trace
    repl.m.write(b"poweroff -f\n")
    out, err = linux.finish(repl, BOOT_TIMEOUT)
    assert err == "" and "RESULT PowerOff True " in out
    assert "ACPI: PM: Preparing to enter system sleep state S5" in out
    assert repl.eval("1 + 1") == 2


def test_reboot_is_a_reset(repl):
    # hv.boot gives a bzImage the APICs unless told otherwise.
    shell = linux.to_the_shell(repl, ", cmdline='console=ttyS0'", BOOT_TIMEOUT, 300)
    assert re.search(r"^LOC:\s+[1-9]\d*\s", "\n".join(shell.run("cat /proc/interrupts")), re.M)
    repl.m.write(b"reboot -f\n")
    out, err = linux.finish(repl, BOOT_TIMEOUT)
    assert err == "" and "RESULT Reset True " in out
    assert "reboot: Restarting system" in out


def test_legacy_pc_to_the_shell_then_poweroff(repl):
    # The module's ISO line is linux.LEGACY. Linux drives the PIT one-shot
    # (mode 0) once NO_HZ runs: an edge of it dropped as a lost tick left
    # the boot waiting for ever after "evm: HMAC attrs" (hv.vmm.ticks).
    start = len(repl.m.output)
    shell = linux.to_the_shell(repl, "", BOOT_TIMEOUT, 300)
    irqs = "\n".join(shell.run("cat /proc/interrupts"))
    assert re.search(r"^\s+0:\s+[1-9]\d*\s+XT-PIC\s+timer$", irqs, re.M), irqs   # the 8259A, the PIT
    assert re.search(r"^\s+4:\s+[1-9]\d*\s+XT-PIC\s+ttyS0$", irqs, re.M), irqs
    assert shell.run("sleep 2; echo slept") == ["slept"]        # a timer a shell waits on
    boot_log = bytes(repl.m.output[start:])
    assert b"tsc: Detected %d.000 MHz processor" % (linux.BOCHS_IPS // 1_000_000) in boot_log
    assert b"Marking TSC unstable" not in boot_log             # the PIT and the TSC agree
    assert b"[ cut here ]" not in boot_log
    repl.m.write(b"poweroff -f\n")                    # no ACPI here: the kernel halts the CPU
    out, err = linux.finish(repl, BOOT_TIMEOUT)
    assert err == "" and "RESULT Halt True " in out
    assert "reboot: System halted" in out
    assert repl.eval("1 + 1") == 2
