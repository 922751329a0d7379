# hv.frames (PhysFrameIf over the bitmap allocator) on QEMU: every frame it
# hands out is real, distinct, writable RAM that nothing else uses, and
# misuse raises without corrupting the allocator. One boot for the module.
import pytest

from conftest import ELF, booted, image
from harness.repl import RemoteError

SETUP = "import hv, hw, struct\na = hv.frames\nstart_free = a.free_count()\n"

FILL_ALL = """
from array import array
held = array('Q')
while True:
    p = a.alloc_frame()
    if p is None:
        break
    held.append(p)
# A distinct pattern in every frame: its own address in the first and last
# 8 bytes, so overlap or aliasing between frames shows up on read-back.
for p in held:
    m = hw.mem(p, 4096)
    struct.pack_into('<Q', m, 0, p ^ 0x5A5A5A5A5A5A5A5A)
    struct.pack_into('<Q', m, 4088, ~p & 0xFFFFFFFFFFFFFFFF)
print(start_free, len(held), a.free_count())
"""

CHECK_ALL = """
bad = 0
for p in held:
    m = hw.mem(p, 4096)
    if struct.unpack_from('<Q', m, 0)[0] != p ^ 0x5A5A5A5A5A5A5A5A or \\
            struct.unpack_from('<Q', m, 4088)[0] != ~p & 0xFFFFFFFFFFFFFFFF:
        bad += 1
print(bad, len(set(held)) == len(held))
"""


@pytest.fixture(scope="module")
def repl():
    with booted("qemu", kernel=image(ELF), mem="128M") as r:
        r.exec(SETUP)
        yield r


def test_every_frame_is_distinct_usable_ram(repl):
    start_free, n, free_after = map(int, repl.exec(FILL_ALL, timeout=120).split())
    assert n == start_free and free_after == 0
    assert n > 20000                                  # ~100 MiB of 128 MiB managed
    assert repl.eval("a.alloc_frame()") is None        # exhausted: None, no exception
    assert repl.eval("a.alloc_frames(1)") is None
    assert repl.eval("sum(range(1000))") == 499500    # REPL and heap still fine
    assert repl.exec(CHECK_ALL, timeout=120).split() == ["0", "True"]
    kernel_start, kernel_end = repl.eval("hw.kernel_range()")
    assert repl.eval(f"[p for p in held if p < 0x100000 or {kernel_start} <= p < {kernel_end}]") == []
    repl.exec("for p in held: a.dealloc_frame(p)", timeout=120)
    assert repl.eval("a.free_count() == start_free") is True
    repl.exec("del held")


def test_contiguous_runs_and_phys_frame(repl):
    repl.exec("p = a.alloc_frames(3, align=4); a.mem(p, 3 * 4096)[:] = b'\\xcc' * (3 * 4096)")
    assert repl.eval("p % (4 * 4096)") == 0
    repl.exec("a.dealloc_frames(p, 3)")
    out = repl.exec(
        "f = hv.PhysFrame.alloc()\n"
        "print(bytes(f.mem[:8]) == bytes(8), f.start_paddr % 4096)\n"
        "f.fill(0xAB)\n"
        "print(hw.read8(f.start_paddr + 4095))\n"
        "f.close(); f.close()\n"
        "print(a.free_count() == start_free)\n")
    assert out.split() == ["True", "0", "171", "True"]


def test_misuse_raises_and_changes_nothing(repl):
    repl.exec("p = a.alloc_frame(); a.dealloc_frame(p); n = a.free_count()")
    for call, what in [("a.dealloc_frame(p)", "already free"),
                       ("a.dealloc_frame(p + 8)", "aligned"),
                       ("a.dealloc_frame(0x1000)", "not managed"),
                       ("a.phys_to_virt(hw.kernel_range()[0])", "not managed"),
                       ("a.dealloc_frame(1 << 40)", "not managed")]:
        with pytest.raises(RemoteError, match="FrameError") as err:
            repl.exec(call)
        assert what in err.value.traceback
    assert repl.eval("a.free_count() == n") is True
    assert repl.eval("a.phys_to_virt(p) == p") is True
