# The stock Linux guest (`make linux`) under mpvisor on QEMU SVM, as a user
# boots it: an ISO whose GRUB entry loads the kernel and the initramfs as
# `module` lines (qemu/mkiso.sh), hv.boot('bzImage', initrd='initramfs.cpio')
# at the REPL, the guest's busybox shell on the serial console. The
# kernel's defaults with the APICs and ACPI (poweroff through S5); the legacy
# PC path (noapic nolapic acpi=off pci=off): commands typed into the shell,
# Ctrl-C reaching the guest, poweroff -f, reboot -f (the 8042's reset, and
# with reboot=t a triple fault), a kernel panic, a time budget and Ctrl-\
# each ending the VM with the right reason and report, every frame back,
# the REPL alive.
import re

import pytest

from conftest import ELF, booted, image
from harness import linux

pytestmark = pytest.mark.usefixtures("guest_stopped_on_failure")

LEGACY = linux.LEGACY
BOOT_TIMEOUT = 600          # to the shell: ~45 s on an idle 2-core host, far more under load
start, finish = linux.start, linux.finish


@pytest.fixture(scope="module")
def repl(tmp_path_factory):
    iso = tmp_path_factory.mktemp("linux") / "linux.iso"
    linux.make_iso(image(ELF), iso)
    with booted("qemu", iso=str(iso)) as r:
        r.timeout = 120
        assert r.eval("__import__('hv').images()") == ["bzImage", "initramfs.cpio"] + r.eval(
            "sorted(__import__('demos').ALL)")
        r.exec("import hv\nfree0 = hv.frames.free_count()")
        yield r


def test_legacy_pc_boot_to_the_shell_then_poweroff(repl):
    shell = linux.to_the_shell(repl, "", BOOT_TIMEOUT)
    irqs = "\n".join(shell.run("cat /proc/interrupts"))
    assert re.search(r"^\s+0:\s+\d+\s+XT-PIC\s+timer$", irqs, re.M)       # the 8259A and the PIT
    assert re.search(r"^\s+4:\s+[1-9]\d*\s+XT-PIC\s+ttyS0$", irqs, re.M)  # COM1's interrupt, taken
    # Ctrl-C reaches the guest's shell (mpvisor's interrupt key is Ctrl-\ meanwhile).
    # The marker is printed once the command runs, the terminal back in
    # cooked mode (ISIG); a ^C typed while the line editor still has it in
    # raw mode would be input, not a signal.
    repl.m.write(b"echo SLEEP''ING; sleep 600\n")
    repl.m.read_until(b"SLEEPING\r\n", 60)
    repl.m.write(b"\x03")
    repl.m.read_until(linux.PROMPT, 60)
    assert shell.run("echo back") == ["back"]
    repl.m.write(b"poweroff -f\n")                    # no ACPI here: the kernel halts the CPU
    out, err = finish(repl)
    assert err == "" and "RESULT Halt True " in out
    assert "reboot: System halted" in out
    assert repl.eval("1 + 1") == 2                    # the REPL is alive, Ctrl-C its key again


def test_kernel_defaults_with_the_apics_and_acpi_then_poweroff_through_s5(repl):
    # The kernel's own defaults (console=ttyS0 only) on the whole PC: the
    # local APIC and I/O APIC (hv.boot apic=True), ACPI tables found by the
    # RSDP scan; poweroff -f goes through ACPI S5.
    shell = linux.to_the_shell(repl, ", cmdline='console=ttyS0', apic=True", BOOT_TIMEOUT)
    irqs = "\n".join(shell.run("cat /proc/interrupts"))
    assert re.search(r"^\s+0:\s+\d+\s+IO-APIC\s+2-edge\s+timer$", irqs, re.M)    # IRQ 0 on pin 2
    assert re.search(r"^\s+4:\s+[1-9]\d*\s+IO-APIC\s+4-edge\s+ttyS0$", irqs, re.M)
    assert re.search(r"^LOC:\s+[1-9]\d*\s+Local timer interrupts$", irqs, re.M)   # the LAPIC timer
    repl.m.write(b"poweroff -f\n")
    out, err = finish(repl)
    assert err == "" and "RESULT PowerOff True " in out
    assert "ACPI: PM: Preparing to enter system sleep state S5" in out


def test_a_kernel_panic_ends_the_vm_with_its_console_lines(repl):
    start(repl)
    shell = linux.Shell(repl.m, timeout=120)
    shell.wait_ready(BOOT_TIMEOUT)
    repl.m.write(b"echo c > /proc/sysrq-trigger\n")  # SysRq 'c': a deliberate crash
    out, err = finish(repl)
    assert err == "" and "RESULT GuestPanic True " in out
    report = out[out.index("VM stopped: the guest kernel panicked"):]
    assert "---[ end Kernel panic - not syncing: sysrq triggered crash ]---" in report
    lines = report[report.index("the guest's last 15 console lines:"):].splitlines()
    assert len(lines) >= 16 and all(line.startswith("  | ") for line in lines[1:16])


def test_reboot_by_triple_fault_ends_as_system_down(repl):
    # reboot=t: straight to the triple fault (the kernel's last resort when
    # nothing else resets the machine); the VM ends as SystemDown, its
    # report with the console.
    start(repl, ", cmdline=%r" % (LEGACY + " reboot=t"))
    shell = linux.Shell(repl.m, timeout=120)
    shell.wait_ready(BOOT_TIMEOUT)
    repl.m.write(b"reboot -f\n")
    out, err = finish(repl)
    assert err == "" and "RESULT SystemDown True " in out
    assert "VM stopped: the guest shut down: a triple fault" in out
    assert re.search(r"  \| \[ *[\d.]+\] reboot: Restarting system", out)


def test_reboot_is_a_reset_through_the_8042(repl):
    # The kernel's default reboot path without ACPI: the 8042's reset pulse
    # (command 0xFE to port 0x64), which the PC's 8042 turns into a reset.
    start(repl)
    shell = linux.Shell(repl.m, timeout=120)
    shell.wait_ready(BOOT_TIMEOUT)
    repl.m.write(b"reboot -f\n")
    out, err = finish(repl)
    assert err == "" and "RESULT Reset True " in out
    assert "reboot: Restarting system" in out


def test_a_time_budget_ends_a_boot_with_its_console_lines(repl):
    # 20 s of host time: how far the kernel gets depends on the host's load,
    # so the report shows its console lines exactly when it printed any.
    start(repl, ", time_budget=20")
    out, err = finish(repl)
    m = re.search(r"RESULT TimeBudget True (\d+)", out)
    assert err == "" and m
    assert "VM stopped: the guest ran for 2" in out and "past vm.vmm.time_budget" in out
    assert ("the guest's last" in out) == (int(m.group(1)) > 0)
    if int(m.group(1)):
        assert re.search(r"^  \| \[ *\d+\.\d+\] ", out, re.M)     # kernel log lines


def test_ctrl_backslash_returns_to_the_repl_and_keeps_the_vm(repl):
    start(repl)
    repl.m.read_until(b"Linux version", 120)          # the kernel runs
    repl.m.write(b"\x1c")
    out, err = finish(repl, 120)
    assert "hv.boot: stopped by Ctrl-\\; the VM is hv.last_vm" in out
    assert "KeyboardInterrupt" in err
    kept, free_after = repl.eval("(hv.last_vm.kernel.kernel.kernel_version.split()[0], "
                                 "(hv.last_vm.close(), hv.frames.free_count() == free0)[1])")
    assert kept == linux.release() and free_after


def test_a_traced_boot_keeps_ram_in_2mib_pages_and_the_heap(repl):
    # trace=True prints every exit (COM1's aside): 20,000 of them take the
    # kernel through decompression and early boot. Guest RAM is backed in 2 MiB pages (a
    # few hundred faults; in 4 KiB pages, thousands), and the heap holds
    # what it held before (the last session ran out after ~6,900 exits).
    out = repl.exec("import gc\ngc.collect(); f0 = gc.mem_free()\n"
                    "r = hv.boot('bzImage', initrd='initramfs.cpio', trace=True, strict=False, max_exits=20000)\n"
                    "gc.collect(); print('RESULT', r.reason, r.exits, f0 - gc.mem_free(), "
                    "hv.frames.free_count() == free0)", timeout=900)
    m = re.search(r"RESULT (\w+) (\d+) (-?\d+) (\w+)", out)
    assert m and m.group(1, 2, 4) == ("ExitBudget", "20000", "True")
    # What stays: the result (output, report) and, on first use, the loader's
    # and the VMM's modules (~120 KiB); a page dict of 4 KiB pages or a
    # trace kept in the heap would be megabytes.
    assert int(m.group(3)) < 512 * 1024
    faults = len(re.findall(r"^\[exit \d+\] NestedPageFault ", out, re.M))
    assert 0 < faults < 500
    assert "] Linux version 6." in out                    # the kernel ran to its console
