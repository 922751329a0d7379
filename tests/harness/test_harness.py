"""Tests of the harness itself: emulator launcher, ISO builder, REPL client.

Host tests (CPython, pytest). They boot qemu/trivial.asm, not the real kernel,
on every boot path (QEMU -kernel, SeaBIOS ISO, OVMF ISO, Bochs ISO per model),
and drive repl.py against a simulated MicroPython raw REPL.
"""

import contextlib
import fcntl
import io
import os
import re
import socket
import subprocess
import sys
import threading
import traceback

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'qemu'))
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(ROOT, 'tests'))

import launch  # noqa: E402
from launch import Machine, SerialLink  # noqa: E402
from repl import ProtocolError, RemoteError, Repl  # noqa: E402
from harness.linux import PROMPT as LINUX_PROMPT, Shell  # noqa: E402  (bench/linux.py may hold `linux`)

OUT = os.path.join(ROOT, 'build', 'trivial')
SOURCES = [os.path.join(ROOT, 'qemu', f) for f in ('trivial.asm', 'mkiso.sh', 'grub.cfg.in')]
# 'K' on a line of its own: GRUB's output holds ESC [ K (erase line) too.
K_LINE = re.compile(rb'(?<!\x1b\[)K\r\n')


def _stale(target):
    return not os.path.exists(target) or any(
        os.path.getmtime(s) > os.path.getmtime(target) for s in SOURCES)


@pytest.fixture(scope='session')
def trivial():
    """build/trivial/{trivial.bin,trivial.iso}; a lock file serialises
    pytest-xdist workers, and outputs appear by atomic rename."""
    os.makedirs(OUT, exist_ok=True)
    kernel, iso = os.path.join(OUT, 'trivial.bin'), os.path.join(OUT, 'trivial.iso')
    with open(os.path.join(OUT, '.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _stale(kernel) or _stale(iso):
            subprocess.run(['nasm', '-f', 'bin', '-o', kernel + '.tmp', SOURCES[0]], check=True)
            os.replace(kernel + '.tmp', kernel)
            subprocess.run([SOURCES[1], kernel, iso + '.tmp'], check=True)
            os.replace(iso + '.tmp', iso)
    return {'kernel': kernel, 'iso': iso}


# -- boot paths ----------------------------------------------------------------

def test_qemu_kernel_prints_k_and_exits_1(trivial):
    with Machine('qemu', kernel=trivial['kernel']) as m:
        assert m.read_until(b'K\r\n', 10) == b'K\r\n'  # -kernel: nothing before it
        assert m.wait(10) == 1  # isa-debug-exit: (0 << 1) | 1
        assert 0 < m.time_to_first_byte < 10
        assert m.first_byte_at <= m.matched_at < m.first_byte_at + 1  # "\r\n" may come later


@pytest.mark.parametrize('uefi', [False, True], ids=['seabios', 'ovmf'])
def test_qemu_iso_prints_k(trivial, uefi):
    with Machine('qemu', iso=trivial['iso'], uefi=uefi) as m:
        m.read_until(K_LINE, 30)
        assert b'Booting `mpvisor\'' in m.output  # it went through GRUB's menu
        assert m.wait(10) == 1


@pytest.mark.parametrize('model', launch.BOCHS_MODELS)
def test_bochs_iso_prints_k(trivial, model):
    with Machine('bochs', iso=trivial['iso'], model=model) as m:
        m.read_until(K_LINE, 60)
        assert m.wait(20) == 1
        assert m.exit_reason() == 'Shutdown port: shutdown requested'


def test_timeout_names_what_was_missing(trivial):
    with Machine('qemu', kernel=trivial['kernel'], extra=['-S']) as m:  # never runs
        with pytest.raises(TimeoutError, match=r"(?s)no b'K' within 0.2 s.*qemu.out.*-kernel"):
            m.read_until(b'K', 0.2)
        with pytest.raises(TimeoutError, match='still running'):
            m.wait(0.1)
    assert m.returncode is not None  # the with block killed it


def test_eof_once_the_emulator_exits(trivial):
    with Machine('qemu', kernel=trivial['kernel']) as m:
        assert m.wait(10) == 1
        with pytest.raises(EOFError, match=r"(?s)COM1 closed before b'never'.*K\\r\\n"):
            m.read_until(b'never', 10)


# -- command builders and ISO ----------------------------------------------------

def test_qemu_argv():
    argv = launch.qemu_argv(kernel='k.elf', append='a=1', gdb=True)
    assert argv[:2] == ['qemu-system-x86_64', '-machine']
    for pair in (['-kernel', 'k.elf'], ['-append', 'a=1'], ['-cpu', 'qemu64,+svm,+npt'],
                 ['-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04'], ['-s', '-S'],
                 ['-serial', 'mon:stdio'], ['-display', 'none']):
        assert ' '.join(pair) in ' '.join(argv)
    assert '-no-reboot' in argv and '-monitor' not in argv
    argv = ' '.join(launch.qemu_argv(iso='x.iso', uefi=True, kvm=True, serial=('client', 5)))
    assert '-enable-kvm -cpu host' in argv and f'-bios {launch.OVMF}' in argv
    assert '-cdrom x.iso' in argv and 'port=5' in argv and '-monitor none' in argv
    with pytest.raises(ValueError):
        launch.qemu_argv(iso='x.iso', append='a=1')
    argv = ' '.join(launch.qemu_argv(kernel='k.elf', serial=('pty', '/tmp/com1.log')))
    assert '-chardev pty,id=com1,logfile=/tmp/com1.log -serial chardev:com1' in argv
    assert '-monitor none' in argv

    argv = ' '.join(launch.qemu_argv(kernel='bzImage', initrd='i.cpio', append='console=ttyS0'))
    assert '-kernel bzImage -append console=ttyS0 -initrd i.cpio' in argv
    with pytest.raises(ValueError):
        launch.qemu_argv(iso='x.iso', initrd='i.cpio')


def test_launch_cli_pty(capsys):
    assert launch.main(['qemu', '--kernel', 'k.elf', '--pty', '--print']) == 0
    argv = capsys.readouterr().out
    assert '-serial pty' in argv and '-monitor none' in argv and 'mon:stdio' not in argv


def test_bochs_config():
    rc = launch.bochs_config('/x.iso', model='ryzen', serial=('client', 4321),
                             mem_mb=128, log='/l')
    for line in ('memory: guest=128, host=128', 'boot: cdrom', 'clock: sync=none',
                 'ata0-slave: type=cdrom, path=/x.iso, status=inserted',
                 'display_library: term', 'panic: action=fatal', 'error: action=report',
                 'port_e9_hack: enabled=1', 'log: /l',
                 'com1: enabled=1, mode=socket-client, dev=localhost:4321'):
        assert line in rc.splitlines()
    assert rc.startswith('cpu: model=ryzen, ips=')
    assert 'reset_on_triple_fault=0, ignore_bad_msrs=0\n' in rc
    with pytest.raises(ValueError):
        launch.bochs_config('/x.iso', model='pentium')


def test_bochs_config_clock_start_and_missing_msrs():
    # bench/linux.py's direct boot: the CMOS clock starts at a known time, and
    # MSRs Bochs lacks read 0 (Linux reads IA32_MISC_ENABLE early).
    rc = launch.bochs_config('/x.iso', time0=946684800, ignore_bad_msrs=True)
    assert 'clock: sync=none, time0=946684800' in rc.splitlines()
    assert 'reset_on_triple_fault=0, ignore_bad_msrs=1\n' in rc


def test_mkiso_is_reproducible_and_carries_the_cmdline(trivial, tmp_path):
    iso = tmp_path / 'a.iso'
    subprocess.run([SOURCES[1], trivial['kernel'], iso, 'log=debug vendor=svm'], check=True)
    cfg = tmp_path / 'grub.cfg'
    subprocess.run(['xorriso', '-osirrox', 'on', '-indev', iso, '-extract',
                    '/boot/grub/grub.cfg', cfg], check=True, capture_output=True)
    assert 'multiboot /boot/mpvisor.elf log=debug vendor=svm' in cfg.read_text()
    assert 'set timeout=1' in cfg.read_text()
    subprocess.run([SOURCES[1], trivial['kernel'], tmp_path / 'b.iso'], check=True)
    with open(trivial['iso'], 'rb') as a, open(tmp_path / 'b.iso', 'rb') as b:
        assert a.read() == b.read()
    bad = subprocess.run([SOURCES[1], trivial['kernel'], tmp_path / 'c.iso', 'a;reboot'],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and 'unsupported character' in bad.stderr


# -- raw REPL client against a simulated device -----------------------------------

class FakeMicroPython(threading.Thread):
    """pyexec.c's friendly and raw REPL, executing with CPython, behind noise
    like GRUB's (ANSI sequences, '>' and 'OK' in the text)."""

    BANNER = b'MicroPython fake; mpvisor\r\n>>> '

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.sock, self.ns, self.raw = sock, {}, False

    def send(self, data):
        self.sock.sendall(data.replace(b'\n', b'\r\n').replace(b'\r\r', b'\r')
                          if isinstance(data, bytes) else data.encode())

    def run_code(self, code):
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                exec(compile(code, '<stdin>', 'exec'), self.ns)
        except Exception:
            err.write(traceback.format_exc())
        return out.getvalue().encode(), err.getvalue().encode()

    def run(self):
        try:
            self.serve()
        except OSError:  # the harness hung up
            pass

    def serve(self):
        self.send(b'\x1b[2J\x1b[1;1H GRUB> OK \x1b[K\r\n  Booting `mpvisor\'\r\n')
        self.send(self.BANNER)
        line = b''
        while c := self.sock.recv(1):
            if c == b'\x01':
                self.raw, line = True, b''
                self.send(b'\r\nraw REPL; CTRL-B to exit\r\n>')
            elif c == b'\x02' and self.raw:
                self.raw, line = False, b''
                self.send(b'\r\n' + self.BANNER)
            elif c == b'\x03':
                line = b''
                if not self.raw:
                    self.send(b'\r\n>>> ')
            elif c == b'\x04' and self.raw:
                self.send(b'OK')
                if not line:
                    self.send(b'\r\nMPY: soft reboot\r\nraw REPL; CTRL-B to exit\r\n>')
                    continue
                out, err = self.run_code(line.decode())
                self.send(out + b'\x04' + err + b'\x04>')
                line = b''
            elif self.raw:
                line += c
            elif c == b'\r':
                self.send(b'\r\n')
                if line:
                    code = f'_r = ({line.decode()})\nif _r is not None: print(repr(_r))'
                    out, err = self.run_code(code)
                    self.send(out + err)
                self.send(b'>>> ')
                line = b''
            else:
                line += c
                self.sock.sendall(c)  # echo


@pytest.fixture
def fake():
    host, device = socket.socketpair()
    board = FakeMicroPython(device)
    board.start()
    link = SerialLink()
    link.attach(host)
    yield Repl(link, timeout=5)
    link.detach()
    board.join(timeout=2)
    device.close()


def test_repl_exec_eval_and_errors(fake):
    assert 'GRUB> OK' in fake.wait_prompt()
    fake.enter_raw()
    assert fake.exec('print(6 * 7)') == '42\n'
    assert fake.eval('{"a": [1, 2.5, b"x"], 2: None}') == {'a': [1, 2.5, b'x'], 2: None}
    with pytest.raises(RemoteError, match='ZeroDivisionError') as e:
        fake.exec('print("before")\n1 / 0')
    assert e.value.stdout == 'before\n'
    out, err = fake.exec_raw('print(1)\nraise ValueError("v")')
    assert out == '1\n' and err.endswith('ValueError: v\n')
    with pytest.raises(ValueError):
        fake.exec('print("\x03")')  # would interrupt the raw REPL


def test_repl_friendly_raw_round_trip_and_soft_reboot(fake):
    fake.wait_prompt()
    assert fake.friendly('1 + 1') == '2\n'
    assert fake.exec('x = 5') == ''  # enters raw REPL from the friendly one
    assert fake.friendly('x * 2') == '10\n'  # Ctrl-B back to '>>> '
    assert 'soft reboot' in fake.soft_reboot()
    assert fake.eval('x') == 5  # the fake keeps state; a real soft reboot would not
    fake.enter_raw()  # again, from raw: still lands on the raw prompt
    assert fake.eval('x + 1') == 6


def _answer(device, trigger, reply):
    """The device's side: once `trigger` arrives, send `reply` (sent
    earlier, enter_raw() would rightly discard it as stale output)."""
    def run():
        seen = b''
        while trigger not in seen:
            seen += device.recv(64)
        device.sendall(reply)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_repl_protocol_errors_are_reported():
    host, device = socket.socketpair()
    link = SerialLink()
    link.attach(host)
    try:
        answered = _answer(device, b'\x01', b'raw REPL; CTRL-B to exit\r\n>')
        repl = Repl(link, timeout=5)
        repl.enter_raw()
        answered.join()
        device.sendall(b'garbageOK')
        with pytest.raises(ProtocolError, match='garbage'):
            repl.exec('pass')
        with pytest.raises(TimeoutError, match="no b'>>> ' within 0.2 s"):
            repl.wait_prompt(0.2)
        # Ctrl-D's soft reboot as a doubled newline translation printed it:
        # mpremote and pyboard.py wait for b'soft reboot\r\n' and hang.
        repl.raw = True
        link.read_some(0)
        device.sendall(b'OK\r\nMPY: soft reboot\r\r\nraw REPL; CTRL-B to exit\r\n>')
        with pytest.raises(ProtocolError, match=r"no b'soft reboot\\r\\n' after Ctrl-D"):
            repl.soft_reboot()
    finally:
        link.detach()
        device.close()


def test_linux_shell_leaves_kernel_messages_out_of_a_commands_output():
    # The kernel writes to the shell's console whenever it likes: at a line's
    # start or inside one (seen on a loaded host: "hrtimer: interrupt took").

    class Link:
        def __init__(self, answer):
            self.answer, self.typed = answer, b""

        def write(self, data):
            self.typed += data

        def read_until(self, pattern, timeout):
            assert pattern == LINUX_PROMPT
            return self.answer + LINUX_PROMPT

    link = Link(b"cat /tmp/f\r\nmpvisor\r\n[    5.917315] hrtimer: interrupt took 14544028 ns\r\n"
                b"mpv[   12.000001] x\r\nisor\r\n\x1b[6n1\r\n")
    assert Shell(link).run("cat /tmp/f") == ["mpvisor", "mpvisor", "1"]
    assert link.typed == b"cat /tmp/f\n"
