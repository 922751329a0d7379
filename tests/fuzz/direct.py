"""Run generated guests (tests/payloads/fuzzref.py) directly under plain QEMU
TCG, no hypervisor: build/fuzz/direct.bin boots with all of them in one
multiboot module and reports each guest's digest and register dump. The
reference side of tests/target/reference_cases.py. Host CPython.

CLI, to replay:  python3 tests/fuzz/direct.py SEED [START [COUNT]]
"""
import os
import struct
import subprocess
import sys
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
STUB = os.path.join(ROOT, "build", "fuzz", "direct.bin")
EXIT_PORT = 0x501                   # direct.asm's isa-debug-exit (guests write 0xF4)
CPU = "qemu64,+svm,+npt"            # the model mpvisor's QEMU runs (tests/target/conftest.py)
MODE_NUMBER = {"real": 0, "protected": 1, "long": 2}
for p in (os.path.join(ROOT, "qemu"), os.path.join(ROOT, "tests", "payloads")):
    if p not in sys.path:
        sys.path.insert(0, p)


class DirectError(Exception):
    """The direct run did not report every guest: which one it stopped at."""


class Result:
    """One guest's report: `digest` (the 8 hex digits it printed, or None),
    `line` (what it printed), `state` (17 ints: the STATE slots, GPRs in
    opcode order, then RFLAGS & mask), `memory` (DATA and FAR after it ran,
    when asked for, else None)."""

    def __init__(self, line, state, memory=None):
        self.line = line
        self.digest = line if len(line) == 8 and all(c in "0123456789abcdef" for c in line) else None
        self.state = state
        self.memory = memory


def load_generator():
    """tests/payloads/fuzzref on CPython (with the `micropython.const` it
    imports, as tests/host/conftest.py provides it)."""
    if "micropython" not in sys.modules:
        mp = types.ModuleType("micropython")
        mp.const = lambda x: x
        sys.modules["micropython"] = mp
    import fuzzref
    return fuzzref


def pack(guests, dump=False):
    """The multiboot module direct.asm reads: 'MPFZ', count, flags, records."""
    out = bytearray(b"MPFZ" + struct.pack("<II", len(guests), 1 if dump else 0))
    for g in guests:
        out += struct.pack("<II", MODE_NUMBER[g.mode], len(g.blob)) + g.blob
        out += bytes(-len(out) % 4)
    return bytes(out)


def parse(text, count):
    """Results from direct.asm's serial output; DirectError if it stopped short."""
    lines = text.replace("\r", "").split("\n")
    results, i = [], 0
    while len(results) < count:
        if i >= len(lines) or lines[i] != "G %08x" % len(results):
            raise DirectError("the direct run stopped at guest %d (no 'G %08x' line); output "
                              "ends: %r" % (len(results), len(results), "\n".join(lines[max(0, i - 3):i + 3])))
        if i + 2 >= len(lines) or not lines[i + 2].startswith("S "):
            raise DirectError("guest %d printed %r and never came back (a fault or a hang "
                              "under plain QEMU)" % (len(results), lines[i + 1:i + 3]))
        line, state = lines[i + 1], [int(w, 16) for w in lines[i + 2].split()[1:]]
        i += 3
        memory = None
        if i + 1 < len(lines) and lines[i].startswith("M "):
            memory = bytes.fromhex(lines[i][2:]) + bytes.fromhex(lines[i + 1][2:])
            i += 2
        results.append(Result(line, state, memory))
    if i >= len(lines) or lines[i] != "END":
        raise DirectError("no END after %d guests: %r" % (count, lines[i:i + 2]))
    return results


def run(guests, timeout=120, dump=False):
    """[Result] per guest, in order, from one plain-QEMU boot; dump: with
    each guest's memory."""
    from launch import qemu_argv
    if not os.path.exists(STUB):
        raise FileNotFoundError(f"{STUB} is missing: build it with `make` first")
    with tempfile.TemporaryDirectory(prefix="mpvisor-direct-") as tmp:
        module, out = os.path.join(tmp, "guests.bin"), os.path.join(tmp, "serial.txt")
        with open(module, "wb") as f:
            f.write(pack(guests, dump))
        argv = qemu_argv(kernel=STUB, cpu=CPU, mem="64M", serial=f"file:{out}",
                         extra=["-initrd", module], debug_exit=EXIT_PORT)
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            p = None
        with open(out, "rb") as f:
            text = f.read().decode("latin-1")
    if p is None:
        raise DirectError(f"plain QEMU ran past {timeout} s; " + _where(text, len(guests)))
    if p.returncode != 1:               # isa-debug-exit with 0: (0 << 1) | 1
        raise DirectError(f"plain QEMU exited {p.returncode} ({p.stderr.decode()[-300:]!r}); "
                          + _where(text, len(guests)))
    return parse(text, len(guests))


def _where(text, count):
    try:
        parse(text, count)
    except DirectError as e:
        return str(e)
    return "every guest reported"


def main(argv):
    fuzzref = load_generator()
    seed = int(argv[1], 0)
    start = int(argv[2]) if len(argv) > 2 else 0
    count = int(argv[3]) if len(argv) > 3 else 1
    guests = [fuzzref.case(seed, i) for i in range(start, start + count)]
    for i, (g, r) in enumerate(zip(guests, run(guests))):
        print(f"{start + i} {g.mode}: {r.line}  state {' '.join('%x' % v for v in r.state)}")


if __name__ == "__main__":
    main(sys.argv)
