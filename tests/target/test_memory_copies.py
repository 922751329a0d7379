# The port's memcpy, memmove and memset (port/memory.c: 64 bytes an
# iteration in SSE registers, byte loops at both ends) and hw.fill, on the
# target, against CPython doing the same byte operations: every length
# around the 16- and 64-byte steps at every alignment, overlapping moves
# both ways (MicroPython's bytearray delete and insert move the tail), and
# fills that must stop exactly at their ends. QEMU -kernel, one boot.
import inspect

import pytest

SIZES = (0, 1, 15, 16, 17, 63, 64, 65, 127, 128, 129, 200, 1000)
OFFSETS = range(0, 18)

# Run here (CPython's copies) and on the target (the port's): their source
# is sent as it is.
def digest(b):
    s = 0
    for i, v in enumerate(b):
        s = (s * 31 + v + i) & 0xFFFFFFFF
    return s


def pattern(n):
    return bytearray((i * 7 + 3) & 0xFF for i in range(n))


def moves(sizes, offsets):
    out = []
    for n in sizes:
        for a in offsets:
            b = pattern(n + 40)
            b[a:a + n // 2] = b""               # the tail moves down over itself
            out.append(digest(b))
            b = pattern(n + 40)
            b[a:a] = pattern(n)                 # the tail moves up over itself, then a copy
            out.append(digest(b))
            b = pattern(n + 40)
            m = memoryview(b)
            m[a:a + n] = bytes(range(n)) if n <= 256 else bytes(n)   # a copy into place
            out.append(digest(b))
    return out


MOVES = "".join(inspect.getsource(f) for f in (digest, pattern, moves))

CODE = """
import hw, hv
frame = hv.frames.alloc_frame()
def fills(sizes, offsets, frame):
    out = []
    m = hw.mem(frame, 4096)
    for n in sizes:
        for a in offsets:
            m[0:2048] = pattern(2048)
            hw.fill(frame + a, n, 0xA5)
            out.append(digest(m[0:n + 64]))
    return out
"""


def expected_fills():
    out = []
    for n in SIZES:
        for a in OFFSETS:
            m = pattern(2048) + bytes(2048)
            m[a:a + n] = b"\xA5" * n
            out.append(digest(m[0:n + 64]))
    return out


@pytest.fixture(scope="module")
def repl(qemu_repl):
    qemu_repl.exec(MOVES)
    qemu_repl.exec(CODE)
    return qemu_repl


def test_copies_and_overlapping_moves_match_cpython(repl):
    got = repl.eval(f"moves({SIZES!r}, range({OFFSETS.start}, {OFFSETS.stop}))", timeout=120)
    assert got == moves(SIZES, OFFSETS)


def test_fill_sets_exactly_its_range(repl):
    got = repl.eval(f"fills({SIZES!r}, range({OFFSETS.start}, {OFFSETS.stop}), frame)", timeout=120)
    assert got == expected_fills()


def test_fill_rejects_a_byte_out_of_range(repl):
    out = repl.exec("try:\n    hw.fill(frame, 1, 256)\nexcept ValueError as e:\n    print(e)")
    assert "fill byte must be 0-255" in out
