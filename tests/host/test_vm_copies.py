# Host test for how VM zeroes and fills guest RAM: a fresh 2 MiB page is
# zeroed by one native fill (hw.fill, a memset), and every slice store goes
# into a view that ends where the store ends. MicroPython's slice store
# (py/objarray.c) moves the tail of the view stored into onto itself; the
# port's memmove returns at once for that (port/memory.c), but a view of the
# store's own span needs no such help. CPython has no such cost, so the
# views are recorded.
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


def test_large_pages_are_zeroed_by_one_fill_and_written_by_one_copy_each():
    m = svm_fakes.Machine()
    vm = m.vm(8 * MiB)
    fills, log = [], []
    fill, mem = m.hw.fill, m.hw.mem
    m.hw.fill = lambda addr, n, byte: (fills.append((n, byte)), fill(addr, n, byte))
    m.memory.data[:] = b"\xAA" * len(m.memory.data)     # what a previous user left
    vm.map_ram(0, 8 * MiB)
    assert len(vm._large) == 4 and fills == [(2 * MiB, 0)] * 4
    m.hw.mem = lambda addr, n: RecordingView(mem(addr, n), log)
    vm.write(0x1000, b"\x55" * (4 * MiB))                # the rest of one page, one, part of one
    assert len(log) == 3 and not any(log)
    m.hw.mem = mem
    assert vm.read(0, 8 * MiB) == bytes(0x1000) + b"\x55" * (4 * MiB) + bytes(4 * MiB - 0x1000)
    vm.close()


def test_fill_bytes_stores_into_views_of_the_range(monkeypatch):
    buf = bytearray(b"\x55" * 4096)
    log = []
    monkeypatch.setattr(bitmap, "memoryview",
                        lambda b: RecordingView(builtins.memoryview(b), log), raising=False)
    bitmap.fill_bytes(buf, 100, 3000, 0xFF)
    assert buf == b"\x55" * 100 + b"\xFF" * 2900 + b"\x55" * 1096
    assert log and not any(log)
