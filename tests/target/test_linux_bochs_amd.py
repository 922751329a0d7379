# The stock Linux guest (`make linux`) under mpvisor on Bochs 2.7's AMD CPU
# (ryzen: SVM with NRIPS) at 100 MIPS (linux.BOCHS_IPS), as
# test_linux_bochs boots it on the Intel CPU: the kernel's defaults with
# the APICs and ACPI to the shell, commands typed, poweroff through ACPI
# S5, every frame back, the REPL alive. Its own module, so that it runs
# beside the Intel one.
import re

import pytest

from conftest import bochs_linux
from harness import linux

pytestmark = pytest.mark.usefixtures("guest_stopped_on_failure")
BOOT_TIMEOUT = 900          # to the shell: ~3 min idle, several times that under load


@pytest.fixture(scope="module")
def repl(tmp_path_factory):
    with bochs_linux(tmp_path_factory, "ryzen", "amd") as r:
        yield r


def test_kernel_defaults_to_the_shell_then_poweroff_through_s5(repl):
    start = len(repl.m.output)
    shell = linux.to_the_shell(repl, ", cmdline='console=ttyS0', apic=True", BOOT_TIMEOUT, 300)
    irqs = "\n".join(shell.run("cat /proc/interrupts"))
    assert re.search(r"^\s+4:\s+[1-9]\d*\s+IO-APIC\s+4-edge\s+ttyS0$", irqs, re.M), irqs
    assert re.search(r"^LOC:\s+[1-9]\d*\s+Local timer interrupts$", irqs, re.M), irqs
    boot_log = bytes(repl.m.output[start:])
    for what in (b"[ cut here ]", b"unchecked MSR access", b"[Firmware Bug]"):   # WARN(), MSR #GP
        i = boot_log.find(what)
        assert i < 0, boot_log[i - 200:i + 1500].decode(errors="replace")
    repl.m.write(b"poweroff -f\n")
    out, err = linux.finish(repl, BOOT_TIMEOUT)
    assert err == "" and "RESULT PowerOff True " in out
    assert "ACPI: PM: Preparing to enter system sleep state S5" in out
    assert repl.eval("1 + 1") == 2
