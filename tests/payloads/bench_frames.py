# Frame allocator micro-benchmark: alloc/free throughput one frame at a time
# and as 3-frame contiguous runs, in frames per second. Any PhysFrameIf works.
# Runs on MicroPython (the lead passes a TSC-based clock) and on CPython.


def _line(what, frames, seconds):
    rate = "%d" % (frames / seconds) if seconds > 0 else "inf"
    return "%-21s %7d frames %9.6f s %10s frames/s" % (what, frames, seconds, rate)


def _cycle(alloc, free, n, held, clock):
    # Allocate up to n items, then free them; (count, alloc s, free s).
    t0 = clock()
    got = 0
    while got < n:
        p = alloc()
        if p is None:
            break
        held[got] = p
        got += 1
    t1 = clock()
    for k in range(got):
        free(held[k])
    return got, t1 - t0, clock() - t1


def run(allocator, clock=None, frames=65536):
    """Allocate up to `frames` free frames one at a time, free them, then the
    same with 3-frame runs. clock() returns seconds as a float; None means
    time.perf_counter (host). Leaves the allocator as it found it."""
    if clock is None:
        import time
        clock = time.perf_counter
    before = allocator.free_count()
    n = frames if frames < before else before
    held = [0] * n
    got, ta, tf = _cycle(allocator.alloc_frame, allocator.dealloc_frame, n, held, clock)
    lines = [_line("alloc_frame", got, ta), _line("dealloc_frame", got, tf)]
    got, ta, tf = _cycle(lambda: allocator.alloc_frames(3),
                         lambda p: allocator.dealloc_frames(p, 3), n // 3, held, clock)
    lines += [_line("alloc_frames3", 3 * got, ta), _line("dealloc_frames3", 3 * got, tf)]
    after = allocator.free_count()
    lines.append("free frames before %d after %d%s"
                 % (before, after, "" if before == after else " LEAK"))
    return "\n".join(lines)


# --- Native-code baseline: the same next-fit byte scan, compiled by viper ---
# (MicroPython's native emitter) over a plain bitmap, in the same boot. It
# keeps no managed-frame map and checks nothing: a floor, not a rival.
import micropython


@micropython.viper
def _viper_alloc_all(bitmap, out, n: int, run: int) -> int:
    bm = ptr8(bitmap)
    res = ptr32(out)
    nbytes = int(len(bitmap))
    hint = 0
    got = 0
    while got < n:
        # find `run` consecutive clear bits starting the scan at the hint byte
        i = hint
        found = -1
        while i < nbytes * 8 - run + 1:
            if bm[i >> 3] == 0xFF:
                i = (i | 7) + 1
                continue
            k = 0
            while k < run and not (bm[(i + k) >> 3] >> ((i + k) & 7)) & 1:
                k += 1
            if k == run:
                found = i
                break
            i += k + 1
        if found < 0:
            break
        k = 0
        while k < run:
            j = found + k
            bm[j >> 3] = bm[j >> 3] | (1 << (j & 7))
            k += 1
        res[got] = found
        hint = (found + run) >> 3 << 3
        got += 1
    return got


@micropython.viper
def _viper_free_all(bitmap, held, got: int, run: int):
    bm = ptr8(bitmap)
    res = ptr32(held)
    g = 0
    while g < got:
        k = 0
        while k < run:
            j = res[g] + k
            bm[j >> 3] = bm[j >> 3] & (0xFF ^ (1 << (j & 7)))
            k += 1
        g += 1


def run_native(clock, frames=65536):
    """The viper baseline over `frames` frames: same report lines as run()."""
    from array import array
    lines = []
    for run_len, names in ((1, ("alloc_frame", "dealloc_frame")),
                           (3, ("alloc_frames3", "dealloc_frames3"))):
        bitmap = bytearray((frames + 7) // 8)
        held = array("I", bytes(4 * (frames // run_len)))
        t0 = clock()
        got = _viper_alloc_all(bitmap, held, frames // run_len, run_len)
        t1 = clock()
        _viper_free_all(bitmap, held, got, run_len)
        t2 = clock()
        lines.append(_line("viper " + names[0], got * run_len, t1 - t0))
        lines.append(_line("viper " + names[1], got * run_len, t2 - t1))
    return "\n".join(lines)
