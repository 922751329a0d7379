"""`make run ...` driven from a test: QEMU's console (-serial mon:stdio) on a
pipe, read until a condition holds, then make and QEMU stopped.

Host test code (CPython); used by tests/target/test_make_run.py and the
tutorial test (docs/tutorial.md's commands).
"""

import contextlib
import fcntl
import os
import select
import signal
import subprocess
import time

from launch import strip_ansi

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))


def make_run(*args, done, timeout=240, target='run'):
    """Run `make run ARGS...` (or another target, e.g. run-linux) in the
    repository; once done(text) is true for its output so far (ANSI
    sequences removed, CRLF as LF), stop it and return that text.
    AssertionError with the output if it never is. Holds build_lock()
    while it runs."""
    with build_lock():
        return _make_run(target, args, done, timeout)


@contextlib.contextmanager
def build_lock():
    """One `make` from the tests at a time (pytest-xdist runs test files in
    parallel): two would rebuild the same staging tree (build/py-tree) under
    each other. Not reentrant."""
    os.makedirs(os.path.join(ROOT, 'build'), exist_ok=True)
    with open(os.path.join(ROOT, 'build', '.make.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _make_run(target, args, done, timeout):
    p = subprocess.Popen(['make', '--no-print-directory', target, *args], cwd=ROOT,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    raw = b''
    deadline = time.monotonic() + timeout
    try:
        while True:
            text = strip_ansi(raw).decode(errors='replace').replace('\r\n', '\n')
            if done(text):
                return text
            left = deadline - time.monotonic()
            assert left > 0 and p.poll() is None, f'make {target} {args} never got there:\n{text[-3000:]}'
            if select.select([p.stdout], [], [], min(left, 1))[0]:
                raw += os.read(p.stdout.fileno(), 65536)
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(30)
