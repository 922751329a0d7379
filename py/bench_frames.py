# Frame allocator micro-benchmark: alloc/free throughput one frame at a time
# and as 3-frame contiguous runs, in frames per second. Any PhysFrameIf works.
# Runs on MicroPython (the lead passes a TSC-based clock) and on CPython.


def _line(what, frames, seconds):
    rate = "%d" % (frames / seconds) if seconds > 0 else "inf"
    return "%-15s %7d frames %9.6f s %10s frames/s" % (what, frames, seconds, rate)


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
    lines = []

    t0 = clock()
    got = 0
    while got < n:
        p = allocator.alloc_frame()
        if p is None:
            break
        held[got] = p
        got += 1
    t1 = clock()
    for k in range(got):
        allocator.dealloc_frame(held[k])
    t2 = clock()
    lines.append(_line("alloc_frame", got, t1 - t0))
    lines.append(_line("dealloc_frame", got, t2 - t1))

    runs = n // 3
    t0 = clock()
    got = 0
    while got < runs:
        p = allocator.alloc_frames(3)
        if p is None:
            break
        held[got] = p
        got += 1
    t1 = clock()
    for k in range(got):
        allocator.dealloc_frames(held[k], 3)
    t2 = clock()
    lines.append(_line("alloc_frames3", 3 * got, t1 - t0))
    lines.append(_line("dealloc_frames3", 3 * got, t2 - t1))

    after = allocator.free_count()
    lines.append("free frames before %d after %d%s"
                 % (before, after, "" if before == after else " LEAK"))
    return "\n".join(lines)
