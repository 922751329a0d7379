"""Emulator launcher for mpvisor images: QEMU (SeaBIOS, OVMF UEFI, KVM) and Bochs.

Host tool (CPython 3.11, stdlib only). As a library, `Machine` runs one emulator
with COM1 on a socket the harness reads and writes; as a CLI it backs `make run*`.

Exit statuses (QEMU 7.2, Bochs 2.7 on Debian bookworm):
  QEMU, isa-debug-exit: (value << 1) | 1, so `out 0xf4, 0` gives 1.
  QEMU, triple fault with -no-reboot, or guest power-off: 0.
  Bochs, "Shutdown" written to port 0x8900: 1 (also through `script -e`).
  Bochs, triple fault (reset_on_triple_fault=0, panic fatal): 1 as well, so
  the verdict must be on serial, not in the status.
"""

import argparse
import bisect
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tty

OVMF = '/usr/share/ovmf/OVMF.fd'
BOCHS_BIOS = '/usr/share/bochs/BIOS-bochs-latest'
BOCHS_VGABIOS = next((p for p in ('/usr/share/vgabios/vgabios.bin',
                                  '/usr/share/bochs/VGABIOS-lgpl-latest')
                      if os.path.exists(p)), '/usr/share/vgabios/vgabios.bin')
BOCHS_MODELS = ('corei7_skylake_x', 'ryzen')  # VMX+EPT, SVM+NP (docs FACTS.md)
# Emulated instructions per second (also the TSC rate). Bochs runs well above
# this; a lower figure makes emulated waits (BIOS, GRUB menu, UART bit times)
# pass faster in wall time: ISO to first kernel output 0.7 s at 5M, 0.8 s at
# 10M, 1.0 s at 20M, 1.6 s at 50M, 2.7 s at 100M.
BOCHS_IPS = 10_000_000

_ANSI = re.compile(rb'\x1b(\[[0-?]*[ -/]*[@-~]|[@-_])')


def strip_ansi(data: bytes) -> bytes:
    """Drop ANSI/VT100 escape sequences (GRUB's serial terminal sends many)."""
    return _ANSI.sub(b'', data)


def qemu_argv(kernel=None, iso=None, uefi=False, kvm=False, gdb=False,
              cpu='qemu64,+svm,+npt', mem='256M', append=None, initrd=None,
              serial='mon:stdio', machine='pc', extra=(), debug_exit=0xf4):
    """QEMU command line. serial: a -serial string ('mon:stdio', 'file:X',
    'pty', 'none'), ('client', PORT): COM1 connects to 127.0.0.1:PORT, or
    ('pty', LOG): COM1 on a new /dev/pts/N (QEMU names it on stderr) with
    everything COM1 sends also written to LOG. initrd: with kernel= a Linux
    bzImage, QEMU's own loader hands it this initrd.
    debug_exit: the isa-debug-exit port (tests/fuzz/direct.py moves it off
    0xF4, which its guests write)."""
    if (kernel is None) == (iso is None):
        raise ValueError('give exactly one of kernel= and iso=')
    argv = ['qemu-system-x86_64', '-machine', machine, '-m', str(mem),
            '-no-reboot', '-display', 'none',
            '-device', f'isa-debug-exit,iobase={debug_exit:#x},iosize=0x04']
    argv += ['-enable-kvm', '-cpu', 'host'] if kvm else ['-cpu', cpu]
    if isinstance(serial, tuple):
        mode, where = serial
        if mode == 'client':
            argv += ['-chardev', f'socket,id=com1,host=127.0.0.1,port={where}']
        elif mode == 'pty':
            argv += ['-chardev', f'pty,id=com1,logfile={where}']
        else:
            raise ValueError(f'unknown serial mode {mode!r}')
        argv += ['-serial', 'chardev:com1']
    else:
        argv += ['-serial', serial]
    if not (isinstance(serial, str) and serial.startswith('mon:')):
        argv += ['-monitor', 'none']
    if uefi:
        argv += ['-bios', OVMF]
    if kernel is not None:
        argv += ['-kernel', str(kernel)]
        if append:
            argv += ['-append', append]
        if initrd:
            argv += ['-initrd', str(initrd)]
    else:
        if append or initrd:
            raise ValueError('append= and initrd= need kernel=; an ISO takes its cmdline at build')
        argv += ['-cdrom', str(iso), '-boot', 'order=d']
    if gdb:
        argv += ['-s', '-S']
    return argv + list(extra)


def bochs_config(iso, model='corei7_skylake_x', serial=('client', 0),
                 mem_mb=256, log='bochs.log', ips=BOCHS_IPS, time0=None,
                 ignore_bad_msrs=False):
    """bochsrc text booting ISO from an ATAPI CD-ROM. serial: ('client', PORT)
    (Bochs connects to the harness), ('server', PORT) or ('file', PATH).
    time0: the CMOS clock's time at reset as Unix seconds (default: the host's
    local time when Bochs starts); with sync=none that clock then counts
    emulated seconds, so a guest reading it knows the emulated time since reset.
    ignore_bad_msrs: MSRs Bochs lacks read 0 rather than raise #GP (a kernel
    run directly needs it: Linux reads IA32_MISC_ENABLE, which Bochs lacks)."""
    if model not in BOCHS_MODELS:
        raise ValueError(f'model must be one of {BOCHS_MODELS}')
    mode, where = serial
    com1 = {'client': f'mode=socket-client, dev=localhost:{where}',
            'server': f'mode=socket-server, dev=localhost:{where}',
            'file': f'mode=file, dev={where}'}[mode]
    return '\n'.join([
        f'cpu: model={model}, ips={ips}, reset_on_triple_fault=0, '
        f'ignore_bad_msrs={int(ignore_bad_msrs)}',
        f'memory: guest={mem_mb}, host={mem_mb}',
        f'romimage: file={BOCHS_BIOS}',
        f'vgaromimage: file={BOCHS_VGABIOS}',
        f'ata0-slave: type=cdrom, path={iso}, status=inserted',
        'boot: cdrom',
        'clock: sync=none' + ('' if time0 is None else f', time0={int(time0)}'),
        'display_library: term',
        f'log: {log}',
        'panic: action=fatal',
        'error: action=report',
        'port_e9_hack: enabled=1',
        'sound: driver=dummy',  # no ALSA probing (and its noise) on headless hosts
        'speaker: enabled=0',
        f'com1: enabled=1, {com1}',
        ''])


def bochs_argv(rc, cmds):
    """Bochs (a debugger build, term display) needs a tty: run it under script."""
    inner = f'bochs -q -f {shlex.quote(str(rc))} -rc {shlex.quote(str(cmds))}'
    return ['script', '-qfec', inner, '/dev/null']


def _tail(path, n=2000):
    try:
        with open(path, 'rb') as f:
            f.seek(max(0, os.path.getsize(path) - n))
            return strip_ansi(f.read()).decode('utf-8', 'replace')
    except OSError as e:
        return f'<{e}>'


def _descendants(pid):
    """Live descendants of pid, read from /proc (script puts Bochs in its own
    session, out of reach of a killpg on ours)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f'/proc/{p}/task')
        except OSError:  # it is gone already
            continue
        for task in tasks:
            try:
                with open(f'/proc/{p}/task/{task}/children') as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def _alive(pid):
    """Running, as opposed to gone or a zombie awaiting its reaper."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rpartition(')')[2].split()[0] != 'Z'
    except OSError:
        return False


def _signal(pgid, pids, sig):
    for kill, pid in [(os.killpg, pgid)] * (pgid is not None) + [(os.kill, p) for p in pids]:
        try:
            kill(pid, sig)
        except ProcessLookupError:
            pass


def _die_with_parent():
    """In the child before exec: SIGKILL it when the harness dies, however it
    dies (Linux PR_SET_PDEATHSIG; tied to the thread that started it). Bochs
    goes too: it hangs up with the pty of `script`."""
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the harness died before prctl
        os._exit(1)


class SerialLink:
    """COM1 as seen by the harness: a socket drained by a reader thread into a
    buffer, and a read position that read_until/read_some advance."""

    def __init__(self):
        self.sock = self._reader = None
        # time.monotonic() stamps: start, first byte in, arrival of the bytes
        # that completed the last read_until match (for boot-time benchmarks)
        self.started_at = self.first_byte_at = self.matched_at = None
        self._buf, self._pos, self._eof = bytearray(), 0, False
        self._arrivals = []  # (buffer length after a recv, its time)
        self._cond = threading.Condition()

    def attach(self, sock, name='com1'):
        self.sock = sock
        self.started_at = self.started_at or time.monotonic()
        self._reader = threading.Thread(target=self._read_loop, daemon=True, name=name)
        self._reader.start()

    def _read_loop(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b''
            with self._cond:
                if not data:
                    self._eof = True
                    self._cond.notify_all()
                    return
                now = time.monotonic()
                if self.first_byte_at is None:
                    self.first_byte_at = now
                self._buf += data
                self._arrivals.append((len(self._buf), now))
                self._cond.notify_all()

    def detach(self):
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
        if self._reader is not None:
            self._reader.join(timeout=2)

    @property
    def output(self) -> bytes:
        """Everything received so far."""
        with self._cond:
            return bytes(self._buf)

    @property
    def closed(self):
        """The other end hung up (the emulator exited)."""
        return self._eof

    @property
    def time_to_first_byte(self):
        return None if self.first_byte_at is None else self.first_byte_at - self.started_at

    def read_until(self, marker, timeout=10) -> bytes:
        """Bytes from the read position up to and including marker (bytes or a
        compiled bytes regex); advances the read position. TimeoutError, or
        EOFError if the link closes first, both with the tail received."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if isinstance(marker, bytes):
                    i = self._buf.find(marker, self._pos)
                    end = -1 if i < 0 else i + len(marker)
                else:
                    m = marker.search(self._buf, self._pos)
                    end = -1 if m is None else m.end()
                if end >= 0:
                    data, self._pos = bytes(self._buf[self._pos:end]), end
                    i = bisect.bisect_left(self._arrivals, (end, 0.0))
                    self.matched_at = self._arrivals[i][1]
                    return data
                left = deadline - time.monotonic()
                if self._eof:
                    raise EOFError(self._diag(f'COM1 closed before {marker!r}'))
                if left <= 0:
                    raise TimeoutError(self._diag(f'no {marker!r} within {timeout} s'))
                self._cond.wait(left)

    def read_some(self, timeout=0.0) -> bytes:
        """Unread bytes, waiting up to timeout for at least one; b'' at EOF."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._buf) == self._pos and not self._eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            data, self._pos = bytes(self._buf[self._pos:]), len(self._buf)
            return data

    def write(self, data: bytes):
        self.sock.sendall(data)

    def _diag(self, what):
        return (f'{what} ({len(self._buf)} bytes received, read position {self._pos})\n'
                f'--- COM1 tail ---\n{bytes(self._buf[-600:])!r}')


class Machine(SerialLink):
    """One emulator run with COM1 on a TCP socket that this object owns.

    Machine('qemu', kernel=ELF | iso=ISO, uefi=, kvm=, cpu=, mem=, append=, extra=)
    Machine('bochs', iso=ISO, model=, mem_mb=, ips=)
    The harness listens on an ephemeral 127.0.0.1 port before the emulator
    starts, so parallel machines never race for ports. The emulator runs in
    its own process group and dies with the thread that started it. Logs live
    in workdir (a temporary directory, kept only if the `with` block raised).
    """

    def __init__(self, emulator='qemu', *, workdir=None, connect_timeout=30, **options):
        super().__init__()
        if emulator not in ('qemu', 'bochs'):
            raise ValueError(f'unknown emulator {emulator!r}')
        self.emulator, self.options = emulator, options
        self.connect_timeout = connect_timeout
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix=f'mpvisor-{emulator}-')
        os.makedirs(self.workdir, exist_ok=True)
        self.log = os.path.join(self.workdir, f'{emulator}.out')
        self.bochs_log = os.path.join(self.workdir, 'bochs.log')
        self.argv = self.proc = None

    def start(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind(('127.0.0.1', 0))
            listener.listen(1)
            self.argv = self._command(listener.getsockname()[1])
            with open(self.log, 'wb') as out:
                self.started_at = time.monotonic()
                self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=subprocess.STDOUT, start_new_session=True,
                                             preexec_fn=_die_with_parent)
            self.attach(self._accept(listener), f'{self.emulator}-com1')
            if self.emulator == 'bochs':
                self._drain_screen()
        except BaseException:
            self.kill()
            raise
        finally:
            listener.close()
        return self

    def _command(self, port):
        if self.emulator == 'qemu':
            return qemu_argv(serial=('client', port), **self.options)
        rc, cmds = os.path.join(self.workdir, 'bochsrc'), os.path.join(self.workdir, 'bochs.cmds')
        with open(rc, 'w') as f:
            f.write(bochs_config(serial=('client', port), log=self.bochs_log, **self.options))
        with open(cmds, 'w') as f:
            f.write('c\n')
        return bochs_argv(rc, cmds)

    def _accept(self, listener):
        deadline = time.monotonic() + self.connect_timeout
        listener.settimeout(0.05)
        while True:
            try:
                conn, _ = listener.accept()
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return conn
            except socket.timeout:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(self._diag(f'{self.emulator} exited with status '
                                              f'{self.proc.returncode} before COM1 connected'))
            if time.monotonic() > deadline:
                raise TimeoutError(self._diag(f'COM1 did not connect in {self.connect_timeout} s'))

    def _drain_screen(self):
        # Bochs' term display draws the VGA text screen into a pty of its
        # own ("Bochs connected to screen /dev/pts/N", before COM1
        # connects) that nobody reads: once a few KiB of screen updates
        # wait there, Bochs blocks in that write and the machine stops
        # (seen: a Linux guest under Bochs ryzen, minutes in). Read it,
        # raw, into screen.out until Bochs closes it.
        deadline = time.monotonic() + 5     # `script` relays Bochs' output a moment later
        while True:
            with open(self.log, 'rb') as f:
                m = re.search(rb'connected to screen "(/dev/pts/\d+)"', f.read())
            if m is not None:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(self._diag('Bochs named no screen pty (display_library: term)'))
            time.sleep(0.02)
        fd = os.open(m.group(1), os.O_RDONLY | os.O_NOCTTY)
        tty.setraw(fd, termios.TCSANOW)

        def drain():
            with open(os.path.join(self.workdir, 'screen.out'), 'wb') as out:
                try:
                    while True:
                        data = os.read(fd, 65536)
                        if not data:
                            break
                        out.write(data)
                except OSError:
                    pass                    # EIO: Bochs closed its side
                finally:
                    os.close(fd)
        threading.Thread(target=drain, name='bochs-screen', daemon=True).start()

    def kill(self):
        """Kill the emulator's whole process tree; idempotent. Polite first:
        QEMU exits at once on SIGTERM; Bochs shrugs SIGTERM off but quits
        cleanly (log flushed) on SIGHUP, and `script` above it then exits
        by itself (SIGTERM would hold it for 2 s). SIGKILL all left 1 s on."""
        if self.proc is not None and self.proc.poll() is None:
            pids = [self.proc.pid] + _descendants(self.proc.pid)
            if len(pids) > 1:
                _signal(None, pids[1:], signal.SIGHUP)
            else:
                _signal(self.proc.pid, [], signal.SIGTERM)
            deadline = time.monotonic() + 1
            while any(map(_alive, pids)) and time.monotonic() < deadline:
                time.sleep(0.02)
            _signal(self.proc.pid, [p for p in pids if _alive(p)], signal.SIGKILL)
            self.proc.wait()
        self.detach()

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        self.kill()
        if self._own_workdir and exc_type is None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def wait(self, timeout=10) -> int:
        """Wait for the emulator to exit; its exit status."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(self._diag(f'{self.emulator} still running after {timeout} s')) from None

    @property
    def returncode(self):
        return self.proc.poll() if self.proc else None

    def exit_reason(self):
        """Bochs only: why it stopped, e.g. 'Shutdown port: shutdown requested'
        or 'exception(): 3rd (13) exception with no resolution' (both exit 1)."""
        m = re.search(r'>>PANIC<< (.*)', _tail(self.bochs_log, 20000))
        return m and m.group(1).strip()

    def _diag(self, what):
        msg = [super()._diag(f'{what} [{self.emulator}]'),
               f'--- {self.log} tail ---\n{_tail(self.log, 1500)}']
        if self.emulator == 'bochs':
            msg.append(f'--- {self.bochs_log} tail ---\n{_tail(self.bochs_log, 1500)}')
        if self.argv:
            msg.append(f'--- command ---\n{shlex.join(self.argv)}')
        return '\n'.join(msg)


# -- CLI ---------------------------------------------------------------------
def _bridge(machine, quit_key=b'\x1d'):
    """COM1 <-> this terminal until the emulator exits or quit_key (Ctrl-])."""
    fd, saved = sys.stdin.fileno(), None
    if os.isatty(fd):
        import termios
        import tty
        saved = termios.tcgetattr(fd)
        tty.setraw(fd)
    try:
        while True:
            out = machine.read_some(0.02)
            if out:
                os.write(sys.stdout.fileno(), out)
            elif machine.closed:
                return machine.wait(5)
            if select.select([fd], [], [], 0)[0]:
                key = os.read(fd, 1024)
                if not key or quit_key in key:
                    return None
                machine.write(key)
    finally:
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='emulator', required=True)
    q = sub.add_parser('qemu', help='QEMU, console on this terminal (Ctrl-A X quits)')
    src = q.add_mutually_exclusive_group(required=True)
    src.add_argument('--iso')
    src.add_argument('--kernel')
    q.add_argument('--uefi', action='store_true', help=f'boot OVMF ({OVMF})')
    q.add_argument('--kvm', action='store_true', help='-enable-kvm -cpu host')
    q.add_argument('--gdb', action='store_true', help='gdb stub on :1234, start halted')
    q.add_argument('--append', help='kernel command line (--kernel only)')
    q.add_argument('--pty', action='store_true',
                   help='COM1 on a new /dev/pts/N (QEMU prints which) for mpremote, '
                        'instead of this terminal; Ctrl-C here quits')
    q.add_argument('--cpu', default='qemu64,+svm,+npt')
    q.add_argument('--mem', default='256M')
    b = sub.add_parser('bochs', help='Bochs headless, COM1 on this terminal (Ctrl-] quits)')
    b.add_argument('--iso', required=True)
    b.add_argument('--model', default='corei7_skylake_x', choices=BOCHS_MODELS)
    b.add_argument('--mem', type=int, default=256, help='MiB')
    b.add_argument('--ips', type=int, default=BOCHS_IPS)
    b.add_argument('--logs', help='keep bochsrc and logs in this directory')
    for p in (q, b):
        p.add_argument('--print', action='store_true', help='print the command, run nothing')
    a = ap.parse_args(argv)

    if a.emulator == 'qemu':
        cmd = qemu_argv(kernel=a.kernel, iso=a.iso, uefi=a.uefi, kvm=a.kvm, gdb=a.gdb,
                        cpu=a.cpu, mem=a.mem, append=a.append,
                        serial='pty' if a.pty else 'mon:stdio')
        if a.print:
            print(shlex.join(cmd))
            return 0
        os.execvp(cmd[0], cmd)

    opts = dict(iso=os.path.abspath(a.iso), model=a.model, mem_mb=a.mem, ips=a.ips)
    if a.print:
        print(bochs_config(serial=('client', 'PORT'), log='bochs.log', **opts), end='')
        print('#', shlex.join(bochs_argv('bochsrc', 'bochs.cmds')), '# bochs.cmds: c')
        return 0
    m = Machine('bochs', workdir=a.logs, **opts)
    print(f'[bochs {a.model}: Ctrl-] quits; logs in {m.workdir}'
          f'{"" if a.logs else " until then"}]', file=sys.stderr)
    with m:
        status = _bridge(m)
    print(f'\r\n[bochs exited: {status}]' if status is not None else '\r\n[quit]', file=sys.stderr)
    return 0 if status is None else status


if __name__ == '__main__':
    sys.exit(main())
