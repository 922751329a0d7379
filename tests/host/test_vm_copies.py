# Host test for how VM zeroes guest RAM: every slice store goes into a view
# that ends where the store ends. MicroPython (py/objarray.c, its slice
# store) moves a view's tail after every store, so a store into a view of a
# 2 MiB page costs the rest of the page, and zeroing one page by page that
# way was quadratic. CPython has no such cost, so the views are recorded.
import builtins

import svm_fakes
from hv.host import bitmap

MiB = svm_fakes.MiB


class RecordingView:
    """A memoryview that logs, per slice store, the bytes after its end (what
    MicroPython would move)."""

    def __init__(self, view, log):
        self.view, self.log = view, log

    def __len__(self):
        return len(self.view)

    def __getitem__(self, key):
        got = self.view[key]
        return RecordingView(got, self.log) if isinstance(key, slice) else got

    def __setitem__(self, key, value):
        if isinstance(key, slice):
            self.log.append(len(self.view) - key.indices(len(self.view))[1])
        self.view[key] = value.view if isinstance(value, RecordingView) else value


def test_zeroing_large_pages_moves_no_tail():
    m = svm_fakes.Machine()
    vm = m.vm(8 * MiB)
    log = []
    mem = m.hw.mem
    m.hw.mem = lambda addr, n: RecordingView(mem(addr, n), log)
    m.memory.data[:] = b"\xAA" * len(m.memory.data)     # what a previous user left
    vm.map_ram(0, 8 * MiB)
    assert len(vm._large) == 4                           # 2 MiB pages, each zeroed
    assert len(log) >= 4 * 512 and not any(log)
    m.hw.mem = mem
    assert vm.read(0, 8 * MiB) == bytes(8 * MiB)
    vm.close()


def test_fill_bytes_stores_into_views_of_the_range(monkeypatch):
    buf = bytearray(b"\x55" * 4096)
    log = []
    monkeypatch.setattr(bitmap, "memoryview",
                        lambda b: RecordingView(builtins.memoryview(b), log), raising=False)
    bitmap.fill_bytes(buf, 100, 3000, 0xFF)
    assert buf == b"\x55" * 100 + b"\xFF" * 2900 + b"\x55" * 1096
    assert log and not any(log)
