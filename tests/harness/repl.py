"""MicroPython REPL client over an emulated COM1 (raw REPL as pyboard.py and
mpremote speak it; the friendly REPL for single lines).

Host test code (CPython). `machine` is anything with write(bytes),
read_until(marker, timeout) and read_some(timeout), e.g. qemu/launch.py's Machine.
"""

import ast
import os
import time

RAW_BANNER = b'raw REPL; CTRL-B to exit\r\n'
SOFT_REBOOT = b'soft reboot\r\n'
PROMPT = b'>>> '
CTRL_A, CTRL_B, CTRL_C, CTRL_D = b'\x01', b'\x02', b'\x03', b'\x04'


class ProtocolError(Exception):
    """The device did not answer as the raw REPL protocol says."""


class RemoteError(Exception):
    """Code raised on the device; args[0] is the remote traceback text."""

    def __init__(self, traceback, stdout=''):
        super().__init__(traceback)
        self.traceback, self.stdout = traceback, stdout


def _text(data: bytes) -> str:
    return data.decode('utf-8', 'replace').replace('\r\n', '\n')


class Repl:
    """Drives one MicroPython REPL. Bytes before the first prompt (BIOS,
    GRUB's ANSI-laden menu) are skipped: every wait looks for a marker."""

    def __init__(self, machine, timeout=10):
        self.m = machine
        self.timeout = timeout
        self.raw = False

    @property
    def machine(self):
        return self.m

    def wait_prompt(self, timeout=None) -> str:
        """Wait for the friendly prompt; the text before it (boot output).
        Call it once after boot, before anything is typed."""
        data = self.m.read_until(PROMPT, timeout or self.timeout)
        self.raw = False
        return _text(data[:-len(PROMPT)])

    def ctrl_c(self):
        """Interrupt running code (KeyboardInterrupt on the device)."""
        self.m.write(CTRL_C)

    def enter_raw(self, timeout=None):
        """From any state: interrupt twice, then Ctrl-A to the raw prompt '>'."""
        self.m.write(b'\r' + CTRL_C + CTRL_C)
        self.m.read_some(0)  # what came before is not an answer to us
        self.m.write(b'\r' + CTRL_A)
        self.m.read_until(RAW_BANNER + b'>', timeout or self.timeout)
        self.raw = True

    def exec_raw(self, code, timeout=None) -> tuple[str, str]:
        """Run code in the raw REPL; (stdout, stderr) as text. stderr holds
        the traceback if it raised (sys.stderr writes land in stdout)."""
        code = code.encode() if isinstance(code, str) else code
        if any(c in code for c in b'\x01\x02\x03\x04'):
            raise ValueError('raw REPL code cannot hold Ctrl-A..Ctrl-D bytes')
        if not self.raw:
            self.enter_raw()
        deadline = time.monotonic() + (timeout or self.timeout)
        self.m.write(code + CTRL_D)
        ok = self.m.read_until(b'OK', self._left(deadline))
        if ok != b'OK':
            self.raw = False
            raise ProtocolError(f'expected OK after the code, got {ok!r}')
        out = self.m.read_until(CTRL_D, self._left(deadline))[:-1]
        err = self.m.read_until(CTRL_D, self._left(deadline))[:-1]
        prompt = self.m.read_until(b'>', self._left(deadline))
        if prompt != b'>':
            self.raw = False
            raise ProtocolError(f'expected the raw prompt, got {prompt!r}')
        return _text(out), _text(err)

    def load(self, path, timeout=None):
        """Make the Python file at `path` (host side) importable on the target
        by its stem: its source runs in a fresh namespace that becomes
        sys.modules[stem]. Benchmarks and the fuzz generator travel this way
        instead of living in the shipped image (tests/payloads/)."""
        name = os.path.splitext(os.path.basename(path))[0]
        with open(path) as f:
            source = f.read()
        self.exec("def _load(name, source):\n"
                  " import sys\n"
                  " ns = {'__name__': name}\n"
                  " exec(source, ns)\n"
                  " class Module: pass\n"
                  " m = Module()\n"
                  " for k in ns: setattr(m, k, ns[k])\n"
                  " sys.modules[name] = m\n"
                  f"_load({name!r}, {source!r})\n"
                  "del _load", timeout)
        return name

    @staticmethod
    def _left(deadline):
        return max(0.0, deadline - time.monotonic())

    def exec(self, code, timeout=None) -> str:
        """Run code; its stdout. RemoteError carries the traceback if it raised."""
        out, err = self.exec_raw(code, timeout)
        if err:
            raise RemoteError(err, out)
        return out

    def eval(self, expr, timeout=None):
        """Value of a Python expression whose repr is a literal."""
        return ast.literal_eval(self.exec(f'print(repr({expr}))', timeout).strip())

    def friendly(self, line, timeout=None) -> str:
        """Type one line at '>>> '; its output (the echo and prompt removed)."""
        timeout = timeout or self.timeout
        if self.raw:
            self.m.write(CTRL_B)  # the friendly REPL prints its banner and '>>> '
            self.wait_prompt(timeout)
        self.m.write(line.encode() + b'\r')
        data = self.m.read_until(b'\r\n' + PROMPT, timeout)[:-len(PROMPT)]
        echo, _, out = data.partition(b'\r\n')
        if echo.strip() != line.encode().strip():
            raise ProtocolError(f'expected the echo of {line!r}, got {echo!r}')
        return _text(out)

    def soft_reboot(self, timeout=None) -> str:
        """Ctrl-D at the raw prompt: the port re-runs its boot script and comes
        back to the raw REPL (pyexec_mode_kind survives). Output in between."""
        timeout = timeout or self.timeout
        if not self.raw:
            self.enter_raw(timeout)
        self.m.write(CTRL_D)
        data = self.m.read_until(RAW_BANNER + b'>', timeout)
        if not data.startswith(b'OK'):
            raise ProtocolError(f'expected OK before the soft reboot, got {data[:80]!r}')
        if SOFT_REBOOT not in data:  # what pyboard.py and mpremote wait for
            raise ProtocolError(f'no {SOFT_REBOOT!r} after Ctrl-D, got {data[:80]!r}')
        return _text(data[2:-len(RAW_BANNER) - 1]).lstrip('\n')

    def send_raw_code(self, code):
        """Send code to the raw REPL and return at once (for code that ends
        the run or never returns); the caller reads the machine's output."""
        code = code.encode() if isinstance(code, str) else code
        if not self.raw:
            self.enter_raw()
        self.m.write(code + CTRL_D)

    def paste(self, code, timeout=None) -> str:
        """Run code through the friendly REPL's paste mode (Ctrl-E ... Ctrl-D);
        the output up to the next prompt."""
        timeout = timeout or self.timeout
        if self.raw:
            self.m.write(CTRL_B)
            self.wait_prompt(timeout)
        self.m.write(b'\x05')
        self.m.read_until(b'=== ', timeout)
        self.m.write(code.replace('\n', '\r').encode() + CTRL_D)
        return _text(self.m.read_until(b'\r\n' + PROMPT, timeout)[:-len(PROMPT)])
