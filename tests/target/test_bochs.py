# Bochs: the Intel model with VMX (corei7_skylake_x) and the AMD model with
# SVM (ryzen), booting the GRUB ISO. Bochs raises #GP for unknown MSRs, so
# the fault-to-exception path is exercised with a real #GP here.
import os
import re
import termios
import threading

import pytest

from conftest import ISO, booted, image
from harness.repl import RemoteError


@pytest.fixture(scope="module")
def bochs_intel():
    with booted("bochs", iso=image(ISO), model="corei7_skylake_x") as repl:
        yield repl


def test_intel_vendor_detected(bochs_intel):
    assert bochs_intel.eval("__import__('hv').vendor()") == "intel"
    assert bochs_intel.eval("__import__('hv').cpu().vendor_id") == "GenuineIntel"
    ok, reason = bochs_intel.eval("__import__('hv').cpu().vmx")
    assert ok and "locked" in reason
    assert "VMX: usable" in bochs_intel.machine.output.decode(errors="replace")


def test_the_screen_pty_is_read_raw(bochs_intel):
    # Bochs' term display writes the screen (a cursor blink every so much
    # emulated time) into a pty of its own; unread, a few KiB of that
    # stopped Bochs for good after ~3,000 emulated seconds (a Linux guest
    # under ryzen). The harness reads it raw into screen.out.
    m = bochs_intel.machine
    with open(m.log, "rb") as f:
        path = re.search(rb'connected to screen "(/dev/pts/\d+)"', f.read()).group(1)
    fd = os.open(path, os.O_RDONLY | os.O_NOCTTY)
    try:
        assert not termios.tcgetattr(fd)[3] & termios.ICANON
    finally:
        os.close(fd)
    assert any(t.name == "bochs-screen" and t.is_alive() for t in threading.enumerate())
    assert os.path.exists(os.path.join(m.workdir, "screen.out"))
    assert bochs_intel.eval("1 + 1") == 2


def test_rdmsr_of_missing_msr_is_a_python_exception(bochs_intel):
    out = bochs_intel.exec(
        "import hw\n"
        "try:\n"
        "    hw.rdmsr(0xDEAD)\n"
        "except hw.CPUFault as e:\n"
        "    print(e.vector, e.error_code)\n")
    assert out.strip() == "13 0"
    with pytest.raises(RemoteError, match=r"CPUFault: #GP general protection"):
        bochs_intel.exec("hw.wrmsr(0xDEAD, 1)")
    assert bochs_intel.eval("2**70") == 2**70                   # REPL alive


def test_xcr0_has_x87_and_sse(bochs_intel):
    assert bochs_intel.eval("hw.cpuid(1)[2] >> 26 & 1") == 1        # XSAVE
    assert bochs_intel.eval("hw.xgetbv(0) & 3") == 3
    assert bochs_intel.eval("hw.cr4() >> 18 & 1") == 1               # OSXSAVE set at boot


def test_amd_vendor_detected():
    with booted("bochs", iso=image(ISO), model="ryzen") as repl:
        assert repl.eval("__import__('hv').vendor()") == "amd"
        ok, reason = repl.eval("__import__('hv').cpu().svm")
        assert ok and "NRIPS" in reason
