# Host tests for py/hv/host/frame.py and py/hv/host/bitmap.py: memory-map parsing, the
# bitmap frame allocator against a set-based reference model, misuse checks,
# PhysFrame, and the benchmark. RAM is a fake that faults outside managed frames.

import time

import pytest
from hypothesis import given, settings, strategies as st

import bench_frames
from hv.host import frame as fm
from hv.host.bitmap import Bitmap, fill_bytes, merge_ranges, subtract_ranges
from hv.host.allocator import BitmapFrameAllocator
from hv.host.frame import FrameError, PhysFrame, PhysFrameIf

FR = 4096
MiB = 1 << 20
GiB = 1 << 30


class Fault(AssertionError):
    """The allocator touched memory it was never told is RAM."""


class FakeRAM:
    """mapper(paddr, size) over bytearrays, one per allowed [start, end)
    byte range, allocated on first touch. Anything else faults."""

    def __init__(self, ranges):
        self.ranges = sorted(ranges)
        self.backing = {}
        self.calls = []

    @classmethod
    def of_frames(cls, frames):
        runs = []
        for f in sorted(frames):
            if runs and runs[-1][1] == f:
                runs[-1][1] = f + 1
            else:
                runs.append([f, f + 1])
        return cls([(s * FR, e * FR) for s, e in runs])

    def __call__(self, paddr, size):
        self.calls.append((paddr, size))
        for s, e in self.ranges:
            if s <= paddr and paddr + size <= e:
                assert e - s <= 64 * MiB, "test RAM range too big to back"
                if s not in self.backing:
                    self.backing[s] = bytearray(b"\xcc" * (e - s))
                return memoryview(self.backing[s])[paddr - s:paddr - s + size]
        raise Fault("access to %#x+%#x outside RAM" % (paddr, size))


def ref_frames(usable, reserved, lo=None, hi=None):
    """Managed frame numbers by brute force: whole frames inside some usable
    (base, length) range and overlapping no reserved (start, end) range."""
    out = set()
    for base, length in usable:
        for f in range((base + FR - 1) // FR, (base + length) // FR):
            s, e = f * FR, (f + 1) * FR
            if lo is not None and s < lo or hi is not None and e > hi:
                continue
            if not any(rs < e and re > s for rs, re in reserved):
                out.add(f)
    return out


def make(usable, reserved=()):
    ram = FakeRAM.of_frames(ref_frames(usable, reserved))
    return BitmapFrameAllocator(usable, reserved, ram), ram


def drain(a):
    got = []
    while True:
        p = a.alloc_frame()
        if p is None:
            return got
        got.append(p)


def snapshot(a):
    return a.free_count(), bytes(a._used.buf), bytes(a._managed.buf)


# --- bitmap primitives ----------------------------------------------------

def test_bitmap_padding_never_allocated():
    b = Bitmap(11, 0)
    got = [b.take_clear(0) for _ in range(11)]
    assert sorted(got) == list(range(11))
    assert b.take_clear(0) == -1 and b.count_clear() == 0


def test_bitmap_take_clear_wraps_from_hint():
    b = Bitmap(64, 1)
    b.clear(3)
    assert b.take_clear(40) == 3 and b.get(3) == 1


def test_bitmap_ranges_and_find_last():
    b = Bitmap(100, 0)
    b.set_range(5, 93)
    assert [b.get(i) for i in (4, 5, 50, 92, 93)] == [0, 1, 1, 1, 0]
    assert b.count_clear() == 12
    assert b.find_last(0, 100, 1) == 92 and b.find_last(0, 100, 0) == 99
    assert b.find_last(5, 93, 0) == -1 and b.find_last(0, 5, 1) == -1
    b.clear_range(6, 90)
    assert b.find_last(0, 90, 1) == 5 and b.count_clear() == 96


@given(st.integers(0, 200), st.integers(0, 200), st.integers(1, 255))
def test_fill_bytes_matches_slice(a, b, byte):
    buf = bytearray(range(256)) * 1
    want = bytearray(buf)
    if a < b:
        want[a:b] = bytes([byte]) * (b - a)
    fill_bytes(buf, a, b, byte)
    assert buf == want


@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 20))),
       st.lists(st.tuples(st.integers(0, 60), st.integers(0, 20))))
def test_range_arithmetic_matches_sets(keep, drop):
    keep = [(s, s + n) for s, n in keep]
    drop = [(s, s + n) for s, n in drop]
    want = {i for s, e in keep for i in range(s, e)} - {i for s, e in drop for i in range(s, e)}
    got = subtract_ranges(merge_ranges(list(keep)), merge_ranges(list(drop)))
    assert {i for s, e in got for i in range(s, e)} == want
    assert all(s < e for s, e in got)
    assert all(got[k][1] < got[k + 1][0] for k in range(len(got) - 1))  # disjoint, not touching


# --- building from memory maps -------------------------------------------

def test_sixteen_frame_mock():
    # x86_vcpu's mock: a pool of 16 frames, all handed out once, then reused.
    a, ram = make([(0x200000, 16 * FR)])
    assert (a.total_count(), a.free_count()) == (16, 16)
    got = drain(a)
    assert sorted(got) == [0x200000 + i * FR for i in range(16)]
    assert a.alloc_frame() is None and a.free_count() == 0
    a.dealloc_frame(got[5])
    assert a.alloc_frame() == got[5]
    for p in got:
        a.dealloc_frame(p)
    assert a.free_count() == 16
    assert a.alloc_frames(16) == 0x200000 and a.alloc_frames(1) is None
    a.dealloc_frames(0x200000, 16)
    a.check()
    assert ram.calls == []  # bookkeeping never touches RAM


def test_holes_overlaps_unsorted_and_unaligned_edges():
    usable = [
        (0x300800, 0x3000),        # unaligned both ends: 0x301000-0x303000
        (0x100000, 0x4000),        # 0x100000-0x104000
        (0x102000, 0x3000),        # overlaps the previous: extends to 0x105000
        (0x105000, 0x1000),        # touches it: extends to 0x106000
        (0x200000, 0x0fff),        # less than a frame: nothing
        (0x400000, 0),             # empty
    ]
    reserved = [(0x101800, 0x102001), (0x301000, 0x301001)]
    a, ram = make(usable, reserved)
    assert a.managed_ranges() == [(0x100000, 0x101000), (0x103000, 0x106000),
                                  (0x302000, 0x303000)]
    got = drain(a)
    assert {p // FR for p in got} == ref_frames(usable, reserved)
    assert len(got) == len(set(got)) == a.total_count() == 5


def test_from_memory_map_qemu_like():
    # QEMU/SeaBIOS e820 for 128 MiB; the kernel image is reserved.
    entries = [(0x7fe0000, 0x20000, 2), (0, 0x9fc00, 1), (0x9fc00, 0x400, 2),
               (0xf0000, 0x10000, 2), (0x100000, 0x7ee0000, 1), (0xfffc0000, 0x40000, 2)]
    ram = FakeRAM([(0x400000, 0x7fe0000)])
    a = BitmapFrameAllocator.from_memory_map(entries, [(0x100000, 0x3ff123)], 4 * GiB, ram)
    assert a.managed_ranges() == [(0x400000, 0x7fe0000)]
    assert a.total_count() == (0x7fe0000 - 0x400000) // FR
    assert all(0x400000 <= p < 0x7fe0000 for p in drain(a))


def test_first_mib_never_managed():
    a = BitmapFrameAllocator.from_memory_map([(0, 0x200000, 1)], [], 4 * GiB, FakeRAM([]))
    assert a.managed_ranges() == [(0x100000, 0x200000)]
    with pytest.raises(FrameError, match="0xff000"):
        a.phys_to_virt(0xff000)


def test_other_types_override_overlapping_ram():
    # A firmware map whose reserved (type 2) entry overlaps available RAM.
    entries = [(0x100000, 0x100000, 1), (0x180000, 0x800, 2), (0x1f0000, 0x10000, 3)]
    a = BitmapFrameAllocator.from_memory_map(entries, [], 4 * GiB, FakeRAM([]))
    assert a.managed_ranges() == [(0x100000, 0x180000), (0x181000, 0x1f0000)]


@pytest.mark.parametrize("limit, above", [
    (4 * GiB, 0),                       # identity map ends at 4 GiB
    (4 * GiB + 0x100800, 0x100),        # unaligned limit inside the high range
    (64 * GiB, 0x200),                  # all of it
])
def test_ram_above_4g(limit, above):
    entries = [(0x100000, 0x100000, 1), (0xc0000000, 0x40000000, 2),
               (0x100000000, 0x200000, 1)]
    ram = FakeRAM([(0x100000, 0x200000), (0x100000000, 0x100200000)])
    a = BitmapFrameAllocator.from_memory_map(entries, [], limit, ram)
    assert a.total_count() == 0x100 + above
    got = drain(a)
    high = [p for p in got if p >= 4 * GiB]
    assert len(high) == above and len(set(got)) == len(got)
    assert all(p + FR <= min(limit, 0x100200000) for p in high)
    for p in got:
        a.dealloc_frame(p)
    # A run never spans the 4 GiB hole: only the full high range has 0x101.
    want = 4 * GiB if above == 0x200 else None
    assert a.alloc_frames(0x101) == want
    if above:
        assert a.mem(4 * GiB, FR)[0] == 0xcc


def test_empty_map():
    a = BitmapFrameAllocator([], [], FakeRAM([]))
    assert a.alloc_frame() is None and a.alloc_frames(2) is None
    assert repr(a) == "<BitmapFrameAllocator 0/0 frames free, 0.0 MiB managed>"
    with pytest.raises(FrameError):
        a.dealloc_frame(0x100000)


@pytest.mark.parametrize("usable, reserved", [([(-FR, 2 * FR)], []), ([(0, -1)], []),
                                              ([(0, FR)], [(2 * FR, FR)])])
def test_bad_ranges_rejected(usable, reserved):
    with pytest.raises(FrameError):
        BitmapFrameAllocator(usable, reserved, FakeRAM([]))


@st.composite
def small_maps(draw):
    base = 0x100000
    usable = [(base + s, n) for s, n in draw(st.lists(
        st.tuples(st.integers(0, 40 * FR), st.integers(0, 12 * FR)), min_size=1, max_size=6))]
    reserved = [(base + s, base + s + n) for s, n in draw(st.lists(
        st.tuples(st.integers(0, 48 * FR), st.integers(0, 4 * FR)), max_size=3))]
    return usable, reserved


@given(small_maps())
def test_managed_set_matches_reference(m):
    usable, reserved = m
    a, _ = make(usable, reserved)
    want = ref_frames(usable, reserved)
    assert a.total_count() == a.free_count() == len(want)
    assert {s // FR + k for s, e in a.managed_ranges() for k in range((e - s) // FR)} == want
    assert {p // FR for p in drain(a)} == want


# --- allocation behaviour ---------------------------------------------------

@pytest.mark.parametrize("align", [1, 2, 3, 4, 8, 16, 512])
def test_alloc_frames_honours_align(align):
    # Managed RAM starts one frame past a 2 MiB boundary so that alignment is
    # against physical frame numbers, not bitmap indices.
    a, _ = make([(0x201000, 1200 * FR)])
    held = [a.alloc_frame() for _ in range(7)]
    runs = []
    while True:
        p = a.alloc_frames(5, align)
        if p is None:
            break
        assert (p // FR) % align == 0
        runs.append(p)
    frames = [p + k * FR for p in runs for k in range(5)] + held
    assert len(frames) == len(set(frames)) and all(0x201000 <= f < 0x201000 + 1200 * FR for f in frames)
    # None only when no aligned free window of 5 exists.
    free = {0x201000 // FR + i for i in range(1200)} - {f // FR for f in frames}
    assert not any((f % align == 0) and all(f + k in free for k in range(5)) for f in free)
    assert a.free_count() == 1200 - len(frames)


def test_alloc_frames_align_unsatisfiable_returns_none():
    a, _ = make([(0x201000, 511 * FR)])  # ends at 0x400000, no 2 MiB-aligned frame
    before = snapshot(a)
    assert a.alloc_frames(1, 512) is None
    assert snapshot(a) == before


def test_runs_never_span_holes_or_reserved():
    a, _ = make([(0x100000, 2 * FR), (0x103000, 2 * FR), (0x200000, 4 * FR)], [(0x201000, 0x202000)])
    assert a.free_count() == 7
    assert a.alloc_frames(3) is None
    p = a.alloc_frames(2)
    q = a.alloc_frames(2)
    r = a.alloc_frames(2)
    assert sorted([p, q, r]) == [0x100000, 0x103000, 0x202000]
    assert a.alloc_frames(2) is None and a.free_count() == 1


def test_exhaustion_returns_none_and_changes_nothing():
    a, _ = make([(0x100000, 8 * FR)])
    drain(a)
    before = snapshot(a)
    assert a.alloc_frame() is None and a.alloc_frames(1) is None and a.alloc_frames(2, 2) is None
    assert snapshot(a) == before


def test_next_fit_reuses_freed_frame_and_walks_forward():
    a, _ = make([(0x100000, 64 * FR)])
    got = [a.alloc_frame() for _ in range(10)]
    assert got == [0x100000 + i * FR for i in range(10)]
    a.dealloc_frame(got[3])
    assert a.alloc_frame() == got[3]
    assert a.alloc_frame() == 0x100000 + 10 * FR


class CountingBuf(bytearray):
    reads = 0

    def __getitem__(self, i):
        CountingBuf.reads += 1
        return bytearray.__getitem__(self, i)


def test_allocation_is_amortised_constant():
    # Allocating every frame, freeing them all and allocating every frame
    # again reads O(1) bitmap bytes per frame; first fit from frame 0 would
    # read O(n) per frame.
    n = 1 << 14
    a, _ = make([(0x100000, n * FR)])
    a._used.buf = CountingBuf(a._used.buf)
    CountingBuf.reads = 0
    got = drain(a)
    for p in got:
        a.dealloc_frame(p)
    got = drain(a)
    assert len(got) == n and CountingBuf.reads < 8 * n
    for p in got[::2]:
        a.dealloc_frame(p)
    CountingBuf.reads = 0
    while a.alloc_frames(1, 2) is not None:
        pass
    assert a.free_count() == 0 and CountingBuf.reads < 8 * n


# --- misuse: FrameError naming the address, and nothing changes -------------

def _misuse_cases():
    # Managed: 0x100000-0x108000 and 0x10a000-0x110000; reserved 0x104000.
    return [
        ("double free", lambda a, h: (a.dealloc_frame(h[0]), a.dealloc_frame(h[0])), "0x100000"),
        ("never allocated", lambda a, h: a.dealloc_frame(0x107000), "0x107000"),
        ("unaligned", lambda a, h: a.dealloc_frame(h[0] + 8), "0x100008"),
        ("below RAM", lambda a, h: a.dealloc_frame(0xff000), "0xff000"),
        ("above RAM", lambda a, h: a.dealloc_frame(0x110000), "0x110000"),
        ("in a hole", lambda a, h: a.dealloc_frame(0x108000), "0x108000"),
        ("reserved", lambda a, h: a.dealloc_frame(0x104000), "0x104000"),
        ("negative", lambda a, h: a.dealloc_frame(-FR), "-0x1000"),
        ("None", lambda a, h: a.dealloc_frame(None), "None"),
        ("run partly free", lambda a, h: a.dealloc_frames(0x101000, 3), "0x103000"),
        ("run over reserved", lambda a, h: a.dealloc_frames(0x103000, 2), "0x103000"),
        ("run past the end", lambda a, h: a.dealloc_frames(0x10f000, 2), "0x10f000"),
        ("run count 0", lambda a, h: a.dealloc_frames(h[0], 0), "0x100000"),
        ("run count -1", lambda a, h: a.dealloc_frames(h[0], -1), "0x100000"),
        ("alloc count 0", lambda a, h: a.alloc_frames(0), "count"),
        ("alloc count -2", lambda a, h: a.alloc_frames(-2), "count"),
        ("align 0", lambda a, h: a.alloc_frames(2, 0), "alignment"),
        ("virt of hole", lambda a, h: a.phys_to_virt(0x108abc), "0x108abc"),
        ("virt of reserved", lambda a, h: a.phys_to_virt(0x104000), "0x104000"),
        ("virt of low memory", lambda a, h: a.phys_to_virt(0xb8000), "0xb8000"),
        ("mem into a hole", lambda a, h: a.mem(0x107800, 0x1000), "0x107800"),
        ("mem of size 0", lambda a, h: a.mem(h[0], 0), "0x100000"),
    ]


@pytest.mark.parametrize("name, op, text", _misuse_cases(), ids=[c[0] for c in _misuse_cases()])
def test_misuse_raises_and_changes_nothing(name, op, text):
    a, ram = make([(0x100000, 8 * FR), (0x10a000, 6 * FR)], [(0x104000, 0x105000)])
    held = [a.alloc_frame() for _ in range(3)]  # 0x100000-0x102fff
    assert held == [0x100000, 0x101000, 0x102000]
    if name == "double free":
        a.dealloc_frame(held[0])
        op = lambda a, h: a.dealloc_frame(h[0])  # noqa: E731
    before = snapshot(a)
    with pytest.raises(FrameError, match=text):
        op(a, held)
    assert snapshot(a) == before
    assert ram.calls == []
    a.check()


def test_phys_to_virt_and_mem_are_identity_over_managed_ram():
    a, ram = make([(0x100000, 8 * FR)])
    assert a.phys_to_virt(0x103abc) == 0x103abc
    mv = a.mem(0x101800, 2 * FR)
    mv[0] = 0x42
    assert len(mv) == 2 * FR and ram.backing[0x100000][0x1800] == 0x42
    assert ram.calls == [(0x101800, 2 * FR)]


def test_interface_methods_are_abstract():
    i = PhysFrameIf()
    for call in (i.alloc_frame, lambda: i.dealloc_frame(0), lambda: i.phys_to_virt(0),
                 lambda: i.alloc_frames(1), lambda: i.dealloc_frames(0, 1), lambda: i.mem(0, 1)):
        with pytest.raises(NotImplementedError):
            call()


# --- reference-model property test ------------------------------------------

@settings(max_examples=150, deadline=None)
@given(small_maps(), st.data())
def test_random_sequences_conserve_frames(m, data):
    usable, reserved = m
    a, ram = make(usable, reserved)
    managed = ref_frames(usable, reserved)
    held = {}  # start paddr -> frame count
    owned = set()  # frame numbers handed out
    for step in range(data.draw(st.integers(1, 60))):
        op = data.draw(st.sampled_from(["alloc", "run", "free", "free_run_part", "misuse"]))
        before = snapshot(a)
        if op == "alloc":
            p = a.alloc_frame()
            if p is None:
                assert owned == managed
            else:
                assert p % FR == 0 and p // FR in managed and p // FR not in owned
                held[p] = 1
                owned.add(p // FR)
                a.mem(p, FR)[0] = step & 0xFF  # through the strict fake RAM
        elif op == "run":
            count = data.draw(st.integers(1, 6))
            align = data.draw(st.sampled_from([1, 2, 3, 4, 8]))
            p = a.alloc_frames(count, align)
            frames = set(range(p // FR, p // FR + count)) if p is not None else set()
            if p is None:
                free = managed - owned
                assert not any(f % align == 0 and all(f + k in free for k in range(count))
                               for f in free)
                assert snapshot(a) == before
            else:
                assert (p // FR) % align == 0 and frames <= managed and not frames & owned
                held[p] = count
                owned |= frames
                a.mem(p, count * FR)[:] = bytes([step & 0xFF]) * (count * FR)
        elif op == "free" and held:
            p = data.draw(st.sampled_from(sorted(held)))
            count = held.pop(p)
            if count > 1 or data.draw(st.booleans()):
                a.dealloc_frames(p, count)
            else:
                a.dealloc_frame(p)
            owned -= set(range(p // FR, p // FR + count))
        elif op == "free_run_part" and held:
            # Frames of one run may be released one at a time.
            p = data.draw(st.sampled_from(sorted(held)))
            count = held.pop(p)
            a.dealloc_frame(p)
            owned.discard(p // FR)
            if count > 1:
                held[p + FR] = count - 1
        elif op == "misuse":
            f = data.draw(st.integers(0xf0, 0x100 + 60))
            if f in owned:
                continue
            with pytest.raises(FrameError):
                if data.draw(st.booleans()):
                    a.dealloc_frame(f * FR)
                else:
                    a.dealloc_frames(f * FR, data.draw(st.integers(1, 3)))
            assert snapshot(a) == before
        assert a.free_count() == len(managed) - len(owned)
        assert a.total_count() == len(managed)
    a.check()


# --- PhysFrame ---------------------------------------------------------------

@pytest.fixture
def pool():
    a, ram = make([(0x200000, 4 * FR)])
    old = fm._default
    fm.set_default_allocator(a)
    yield a, ram
    fm.set_default_allocator(old)


def test_no_default_allocator():
    old = fm._default
    fm.set_default_allocator(None)
    try:
        with pytest.raises(FrameError, match="no frame allocator installed"):
            PhysFrame.alloc()
        with pytest.raises(FrameError):
            fm.default_allocator()
    finally:
        fm.set_default_allocator(old)


def test_physframe_zero_fill_and_uninit(pool):
    a, ram = pool
    f = PhysFrame.alloc()
    assert bytes(f.mem) == bytes(FR)  # fake RAM starts as 0xcc
    assert bytes(ram.backing[0x200000][f.start_paddr - 0x200000:][:FR]) == bytes(FR)
    g = PhysFrame.alloc_uninit(a)
    assert bytes(g.mem) == b"\xcc" * FR
    assert g.start_paddr != f.start_paddr and g.start_paddr % FR == 0


@pytest.mark.parametrize("byte", [0x00, 0x01, 0x5a, 0xff])
def test_physframe_fill(pool, byte):
    a, ram = pool
    f = PhysFrame.alloc_uninit()
    f.fill(byte)
    assert bytes(f.mem) == bytes([byte]) * FR
    # Neighbouring frames are untouched.
    other = PhysFrame.alloc_uninit()
    assert bytes(other.mem) == b"\xcc" * FR
    with pytest.raises(ValueError):
        f.fill(256)


def test_physframe_close_once(pool):
    a, _ = pool
    f = PhysFrame.alloc()
    assert a.free_count() == 3
    assert repr(f) == "<PhysFrame 0x200000>"
    f.close()
    assert a.free_count() == 4 and f.closed
    f.close()
    assert a.free_count() == 4
    assert repr(f) == "<PhysFrame 0x200000 closed>"
    with pytest.raises(FrameError, match="0x200000"):
        f.mem
    with pytest.raises(FrameError):
        f.fill(0)


def test_physframe_context_manager_releases_on_error(pool):
    a, _ = pool
    with PhysFrame.alloc() as f:
        f.mem[0] = 1
        assert a.free_count() == 3
    assert a.free_count() == 4 and f.closed
    with pytest.raises(KeyError):
        with PhysFrame.alloc(a):
            raise KeyError
    assert a.free_count() == 4


def test_physframe_out_of_frames(pool):
    a, _ = pool
    frames = [PhysFrame.alloc() for _ in range(4)]
    with pytest.raises(MemoryError, match="out of physical frames"):
        PhysFrame.alloc()
    assert len({f.start_paddr for f in frames}) == 4
    for f in frames:
        f.close()
    assert a.free_count() == 4


def test_physframe_releases_frame_when_mapping_fails():
    a = BitmapFrameAllocator([(0x200000, 2 * FR)], [], FakeRAM([]))  # no RAM is mappable
    with pytest.raises(Fault):
        PhysFrame.alloc(a)
    assert a.free_count() == 2


# --- reporting and benchmark -------------------------------------------------

def test_repr_and_stats():
    a, _ = make([(0x100000, 32000 * FR)])
    for _ in range(256):
        a.alloc_frame()
    assert repr(a) == "<BitmapFrameAllocator 31744/32000 frames free, 125.0 MiB managed>"
    s = a.stats()
    assert "31744 free" in s and "256 used" in s and "0x100000-0x7e00000" in s
    assert "{" not in s


def test_bench_runs_and_restores():
    a, _ = make([(0x100000, 3000 * FR), (0x1000000, 1000 * FR)])
    out = bench_frames.run(a, time.perf_counter, frames=3500)
    lines = out.splitlines()
    assert len(lines) == 5 and all("frames/s" in line for line in lines[:4])
    assert " 3500 frames" in lines[0] and " 3498 frames" in lines[2]
    assert lines[4] == "free frames before 4000 after 4000"
    assert a.free_count() == 4000
    a.check()
