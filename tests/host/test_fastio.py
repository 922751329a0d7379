"""hv.vcpu.fastio: the lists the natives serve (port/natives.h)."""
import pytest

from hv.vcpu.fastio import IN, OUT, SLOTS, FastIo


def test_answers_and_one_collected_port_in_slots():
    f = FastIo()
    f.answer(0x3FD, 0x160)                          # a byte: the value is masked
    f.answer(0x3FD, 0x61)                           # the same slot, a new value
    assert [e for e in f.table if e] == [0x3FD | IN << 16 | 0x61 << 24]
    seen = []
    f.collect(0x3F8, seen.append)
    with pytest.raises(ValueError, match="one port at a time"):
        f.collect(0x2F8, seen.append)
    f.ring[0:2] = b"ok"
    f.count[0] = 2
    f.collect(0x3F8, None)                          # unlisted: what it took goes on first
    assert seen == [b"ok"] and f.count[0] == 0 and f.sink is None
    assert not any(e >> 16 & 0xFF == OUT for e in f.table)
    f.answer(0x3FD, None)
    assert not any(f.table)
    for p in range(SLOTS):
        f.answer(0x100 + p, 0)
    with pytest.raises(ValueError, match="slots are in use"):
        f.answer(0x200, 0)
    f.clear()
    assert not any(f.table)
