# MicroPython features a user of a desktop-class port expects, switched on
# in port/mpconfigport.h (README "MicroPython features"): each test fails on
# an image without its option. QEMU -kernel, one boot for the module.
import pytest

CODE = """
import micropython, sys
lst = []
def index_error():
    micropython.heap_lock()
    try:
        lst[1]
    except IndexError as e:
        return e
    finally:
        micropython.heap_unlock()
def memory_error():
    micropython.heap_lock()
    try:
        [0] * 10
    except MemoryError as e:
        return e
    finally:
        micropython.heap_unlock()
def locked():
    micropython.heap_lock()
    try:
        return micropython.heap_locked()
    finally:
        micropython.heap_unlock()
"""


@pytest.fixture(scope="module")
def repl(qemu_repl):
    qemu_repl.exec(CODE)
    return qemu_repl


def test_three_argument_pow(repl):
    assert repl.eval("pow(3, 200, 2**61 - 1)") == pow(3, 200, 2**61 - 1)
    assert repl.eval("pow(2**100 + 7, 2**64 + 1, 10**20 + 39)") == pow(2**100 + 7, 2**64 + 1, 10**20 + 39)


def test_detailed_error_messages(repl):
    _, err = repl.exec_raw("def f(a): pass\nf(1, 2)")
    assert err.endswith("TypeError: f() takes 1 positional arguments but 2 were given\n")
    _, err = repl.exec_raw("int('x')")
    assert err.endswith("ValueError: invalid syntax for integer with base 10: 'x'\n")


def test_emergency_exception_buffer(repl):
    # With the heap locked (as in an exit handler) an exception still gets
    # its message and its traceback, from the static 256-byte buffer.
    assert repl.eval("index_error().args") == ("list index out of range",)
    out = repl.exec("sys.print_exception(memory_error())")
    assert 'in memory_error\nMemoryError: memory allocation failed, heap is locked\n' in out


def test_warnings_are_printed(repl):
    out = repl.exec("try:\n    raise ValueError(1) from KeyError(2)\nexcept ValueError as e:\n    print(repr(e))")
    assert out == "Warning: exception chaining not supported\nValueError(1,)\n"


def test_sys_exc_info(repl):
    out = repl.exec("try:\n    1 // 0\nexcept ZeroDivisionError:\n    t, v, tb = sys.exc_info()\n"
                    "print(t.__name__, v.args)")
    assert out == "ZeroDivisionError ('divide by zero',)\n"


def test_gc_collect_returns_a_count(repl):
    assert repl.eval("[[i] for i in range(500)] and __import__('gc').collect()") > 0


def test_heap_locked(repl):
    assert repl.eval("(locked(), micropython.heap_locked())") == (1, 0)


def test_io_iobase_streams(repl):
    out = repl.exec("import io\nclass W(io.IOBase):\n    def __init__(s): s.d = b''\n"
                    "    def write(s, b): s.d += bytes(b); return len(b)\n"
                    "w = W()\nprint('hi', 42, file=w)\nprint(repr(w.d))")
    assert out == "b'hi 42\\n'\n"


def test_all_inplace_special_methods(repl):
    repl.exec("class A:\n    def __init__(s): s.v = 3\n"
              "    def __imul__(s, o): s.v *= o; return s\n"
              "    def __ior__(s, o): s.v |= o; return s\n"
              "a = A(); a *= 6; a |= 1")
    assert repl.eval("a.v") == 19


def test_memoryview_itemsize(repl):
    assert repl.eval("[memoryview(__import__('array').array(t, [0])).itemsize for t in 'BId']") == [1, 4, 8]


def test_namedtuple_asdict(repl):
    out = repl.exec("from collections import namedtuple\nP = namedtuple('P', 'x y')\n"
                    "print(list(P(1, 2)._asdict().items()))")
    assert out == "[('x', 1), ('y', 2)]\n"             # an OrderedDict, in field order


# --- the friendly REPL's line editor ---

def typed(repl, keys):
    """Type keys and Enter at '>>> '; the output after the echoed line."""
    if repl.raw:
        repl.machine.write(b"\x02")
        repl.wait_prompt()
    repl.machine.write(keys + b"\r")
    return repl.machine.read_until(b"\r\n>>> ", repl.timeout).decode(errors="replace")


def test_line_editor_word_keys(repl):
    typed(repl, b"cw = 1 + 99\x17" + b"2")              # Ctrl-W deletes the word "99"
    typed(repl, b"ab = 5 7\x1bb+")                      # Alt-B to before "7", insert "+"
    typed(repl, b"cl = 10 3\x1b[1;5D-")                 # Ctrl-Left likewise
    assert repl.eval("(cw, ab, cl)") == (3, 12, 7)


def test_line_editor_history_holds_50_lines(repl):
    typed(repl, b"hist = 'oldest'")
    for i in range(1, 12):
        typed(repl, b"hist = %d" % i)
    typed(repl, b"\x1b[A" * 12)                         # 12 lines back: the default 8 stop short
    assert repl.eval("hist") == "oldest"


def test_gc_runs_every_mib_allocated_not_only_when_the_heap_is_full(repl):
    # py/main.py sets gc.threshold(1 MiB): 8 MiB of garbage allocated in a
    # loop never piles up, so no collection has more than about a MiB to
    # sweep (the pause, `make bench --only gc`). With threshold -1 the same
    # loop leaves the garbage on the heap until it is full.
    assert repl.eval("__import__('gc').threshold()") == 1 << 20
    repl.exec("""
import gc
def garbage_left(threshold, n=(8 << 20) // 48):
    before = gc.threshold()
    gc.threshold(threshold)
    gc.collect()
    f0 = gc.mem_free()
    x = None
    for i in range(n):
        x = [i, i, i]
    left = f0 - gc.mem_free()
    gc.threshold(before)
    gc.collect()
    return left
""")
    with_threshold = repl.eval("garbage_left(1 << 20)", timeout=120)
    without = repl.eval("garbage_left(-1)", timeout=120)
    print(f"8 MiB of garbage left on the heap: {with_threshold} bytes with the boot's threshold, "
          f"{without} without")
    assert with_threshold <= (1 << 20) + 4096
    assert without >= 4 << 20
