# mpremote (MicroPython's own tool, from PyPI, pinned in tools/deps.py)
# against mpvisor on QEMU with COM1 on a pseudo-terminal, as a user drives it
# (README "Driving mpvisor with mpremote"). Host test code; one boot for the
# module, with run=hv.loader.demo on the command line as `make run` boots it.
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import ELF, image
from launch import _die_with_parent, qemu_argv

BOOT_TIMEOUT = 30
CALL_TIMEOUT = 60       # one mpremote call; each takes ~0.3 s, a guest run ~1 s
PROMPT = b">>> "


def wait_for(what, timeout, poll):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = poll()
        if found:
            return found
        time.sleep(0.05)
    raise TimeoutError(f"no {what} within {timeout} s")


class PtyQemu:
    """QEMU with COM1 on /dev/pts/N and everything COM1 sends in a log file."""

    def __init__(self, tmp, **options):
        self.log, self.out = os.path.join(tmp, "com1.log"), os.path.join(tmp, "qemu.out")
        argv = qemu_argv(serial=("pty", self.log), **options)
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=_die_with_parent)
        try:
            self.pty = wait_for("/dev/pts/N from QEMU", 10, self._pty_name)
        except BaseException:
            self.kill()
            raise

    def _pty_name(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"QEMU exited ({self.proc.returncode}): {self.text(self.out)}")
        m = re.search(r"char device redirected to (/dev/pts/\d+)", self.text(self.out))
        return m and m.group(1)

    @staticmethod
    def text(path):
        try:
            with open(path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def com1(self):
        return self.text(self.log)

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture(scope="module")
def qemu(tmp_path_factory):
    try:
        import mpremote  # noqa: F401
    except ImportError:
        pytest.fail("mpremote is missing from this Python: run `python3 tools/deps.py`")
    q = PtyQemu(str(tmp_path_factory.mktemp("mpremote")), kernel=image(ELF), append="run=hv.loader.demo")
    try:
        wait_for("first prompt on COM1", BOOT_TIMEOUT, lambda: PROMPT in q.com1().encode())
        yield q
    finally:
        q.kill()


def mpremote(qemu, *args, check=True):
    """Run `mpremote connect /dev/pts/N ARGS...`; the CompletedProcess."""
    cmd = [sys.executable, "-m", "mpremote", "connect", qemu.pty, *args]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=CALL_TIMEOUT,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{cmd} hung for {CALL_TIMEOUT} s; COM1 tail: {qemu.com1()[-600:]!r}"
                    f"; mpremote said: {e.stdout!r} {e.stderr!r}")
    if check and r.returncode:
        pytest.fail(f"{cmd} exited {r.returncode}: {r.stdout!r} {r.stderr!r}"
                    f"; COM1 tail: {qemu.com1()[-600:]!r}")
    return r


def test_exec_soft_resets_first(qemu):
    # Plain `connect PTY exec` (no `resume`): Ctrl-A, Ctrl-D soft reboot, then
    # mpremote waits for b"soft reboot\r\n" and the raw REPL banner again.
    reboots = qemu.com1().count("soft reboot")
    assert mpremote(qemu, "exec", "marker = 6 * 7; print(marker)").stdout == "42\n"
    assert qemu.com1().count("soft reboot") == reboots + 1
    assert "soft reboot\r\r" not in qemu.com1()
    # The next call soft-resets again, so the marker is gone.
    assert mpremote(qemu, "exec", "print('marker' in globals())").stdout == "False\n"


def test_resume_and_chained_commands_keep_state(qemu):
    r = mpremote(qemu, "exec", "x = 41", "exec", "print(x + 1)")
    assert r.stdout == "42\n"
    assert mpremote(qemu, "resume", "exec", "print(x * 2)").stdout == "82\n"


def test_eval(qemu):
    assert mpremote(qemu, "eval", "2 ** 70").stdout == f"{2 ** 70}\n"
    r = mpremote(qemu, "exec", "import hv", "eval", "[hv.vendor(), hv.cpu().svm[0]]")
    assert r.stdout == "['amd', True]\n"


def test_run_file(qemu, tmp_path):
    # Longer than the raw-paste window (128 bytes) many times over, so the
    # device's flow-control replies (\x01 per window) are exercised.
    lines = ["# a script sent with `mpremote run`", "import sys", "total = 0"]
    lines += [f"total += {i}  # line {i:03d} of padding to cross several windows" for i in range(120)]
    lines += ["def fib(n):", "    return n if n < 2 else fib(n - 1) + fib(n - 2)",
              "print(sys.platform, total, fib(20))"]
    script = tmp_path / "script.py"
    script.write_text("\n".join(lines) + "\n")
    assert script.stat().st_size > 40 * 128
    assert mpremote(qemu, "run", str(script)).stdout == f"mpvisor {sum(range(120))} 6765\n"


def test_remote_exception_is_an_error_exit(qemu):
    r = mpremote(qemu, "exec", "print('before'); 1 // 0", check=False)
    assert r.returncode == 1
    assert r.stdout.startswith("before\n") and "ZeroDivisionError" in r.stdout


def test_boot_a_guest(qemu):
    r = mpremote(qemu, "exec", "import hv; r = hv.boot('demo'); print(r.reason, r.result)")
    assert "guest| PASS\n" in r.stdout
    assert r.stdout.endswith("DebugExit 0\n")


def test_boot_script_skips_run_step_in_raw_repl(qemu):
    # run=hv.loader.demo ran at the first boot; mpremote's soft reboots land in the
    # raw REPL, where the boot script leaves its run= step out (as upstream
    # ports skip main.py), so nothing slow or interactive stands in the way.
    assert mpremote(qemu, "eval", "__import__('hw').raw_repl()").stdout == "True\n"
    assert qemu.com1().count("demo: hv.boot('demo', trace=True)") == 1
    # A soft reboot at the friendly prompt (where mpremote leaves it) runs it.
    import serial
    with serial.Serial(qemu.pty, 115200, timeout=1) as port:
        before = len(qemu.com1())
        port.write(b"\r\x04")
        wait_for("the demo after a friendly soft reboot", BOOT_TIMEOUT,
                 lambda: "demo: hv.help()" in qemu.com1()[before:]
                 and qemu.com1().endswith(">>> "))
        port.write(b"import hw; hw.raw_repl()\r")
        wait_for("hw.raw_repl() at the friendly prompt", 10,
                 lambda: "hw.raw_repl()\r\nFalse\r\n>>> " in qemu.com1())
    assert qemu.com1().count("demo: hv.boot('demo', trace=True)") == 2
    assert mpremote(qemu, "eval", "1 + 1").stdout == "2\n"
