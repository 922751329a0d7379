# The stock Linux guest (`make linux`) booted by plain QEMU TCG, no mpvisor:
# proof that the kernel and initramfs reach a working shell on the serial
# console, and the time from emulator start to the prompt that mpvisor's
# Linux boot is measured against. Two machines: `pc` with the kernel's
# defaults (console=ttyS0 only) and `microvm` with only PIC, PIT and COM1.
import os

import pytest

from harness import linux
from launch import Machine

BOOT_TIMEOUT = 180          # ~5 s on an idle 2-core host; TCG under load is far slower


def stock(path):
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: build it with `make linux`")
    return path


@pytest.mark.parametrize("name, machine, ending", [
    ("pc", linux.PC, "poweroff -f"),        # ACPI S5: QEMU exits
    ("microvm", linux.MICROVM, "reboot -f"),  # no ACPI: a reset, which -no-reboot turns into an exit
])
def test_plain_qemu_boots_the_stock_kernel_to_a_shell(name, machine, ending):
    release = linux.release()
    with Machine("qemu", kernel=stock(linux.KERNEL), initrd=stock(linux.INITRD),
                 mem="256M", **machine) as m:
        shell = linux.Shell(m)
        assert shell.wait_ready(BOOT_TIMEOUT) == release
        seconds = m.matched_at - m.started_at
        assert shell.run("uname -r") == [release]
        assert shell.run("echo mpvisor > /tmp/f; cat /tmp/f; grep -c ' /proc proc' /proc/mounts") == \
            ["mpvisor", "1"]
        m.write(ending.encode() + b"\n")
        assert m.wait(60) == 0
    print(f"\nlinux baseline: QEMU -M {name}: emulator start to the shell prompt {seconds:.2f} s")
