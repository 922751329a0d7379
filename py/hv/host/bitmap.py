# A fixed-size bit array in a bytearray, scanned a whole byte at a time, and
# the [start, end) index-range arithmetic used to fill it. Bit i lives in byte
# i >> 3 at position i & 7 (LSB first). Pure Python: runs on MicroPython (bare
# metal, VMX/SVM root) and on CPython for host tests.

from micropython import const

_FULL = const(0xFF)


def _lowest_zero_table():
    # _LOW0[b] = index of the lowest clear bit of byte b (8 when b == 0xFF):
    # a table lookup instead of a per-bit loop on the allocation fast path.
    t = bytearray(256)
    for b in range(256):
        i = 0
        while i < 8 and (b >> i) & 1:
            i += 1
        t[b] = i
    return bytes(t)


_LOW0 = _lowest_zero_table()


def fill_bytes(buf, a, b, byte):
    # buf[a:b] = byte, in place by doubling copies: log2(b - a) slice
    # assignments and no temporary as large as the range (bitmaps for
    # gigabytes of RAM are 100+ KiB and the GC heap is small). Each store
    # goes into a view of just its slice: MicroPython moves the tail of the
    # view stored into, which for a view of the whole bitmap is all of it.
    if a >= b:
        return
    mv = memoryview(buf)
    mv[a] = byte
    done = 1
    n = b - a
    while done < n:
        k = done if done < n - done else n - done
        mv[a + done:a + done + k][:] = mv[a:a + k]
        done += k


def merge_ranges(ranges):
    # Sort (in place) and coalesce overlapping or touching [s, e) index ranges;
    # empty ones are dropped.
    ranges.sort()
    out = []
    for s, e in ranges:
        if s >= e:
            continue
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def subtract_ranges(keep, drop):
    # Both sorted and disjoint; returns keep minus drop.
    out = []
    j = 0
    for s, e in keep:
        while j < len(drop) and drop[j][1] <= s:
            j += 1
        k = j
        while s < e and k < len(drop) and drop[k][0] < e:
            if drop[k][0] > s:
                out.append((s, drop[k][0]))
            s = max(s, drop[k][1])
            k += 1
        if s < e:
            out.append((s, e))
    return out


class Bitmap:
    """nbits bits, all initialised to `fill` (0 or 1).

    Padding bits past nbits in the last byte are always 1 so that a scan for
    a clear bit never returns an index >= nbits.
    """

    def __init__(self, nbits, fill):
        nbytes = (nbits + 7) >> 3
        self.nbits = nbits
        self.nbytes = nbytes
        self.buf = bytearray(nbytes)
        if fill:
            fill_bytes(self.buf, 0, nbytes, _FULL)
        for i in range(nbits, nbytes << 3):
            self.buf[i >> 3] |= 1 << (i & 7)

    def get(self, i):
        return (self.buf[i >> 3] >> (i & 7)) & 1

    def set(self, i):
        self.buf[i >> 3] |= 1 << (i & 7)

    def clear(self, i):
        self.buf[i >> 3] &= ~(1 << (i & 7)) & _FULL

    def set_range(self, i, j):
        self._fill(i, j, 1)

    def clear_range(self, i, j):
        self._fill(i, j, 0)

    def _fill(self, i, j, val):
        # Bits [i, j): single bits up to a byte boundary, whole bytes by
        # slice assignment, then the tail bits.
        buf = self.buf
        while i < j and i & 7:
            if val:
                buf[i >> 3] |= 1 << (i & 7)
            else:
                buf[i >> 3] &= ~(1 << (i & 7)) & _FULL
            i += 1
        a = i >> 3
        b = j >> 3
        if a < b:
            fill_bytes(buf, a, b, _FULL if val else 0)
            i = b << 3
        while i < j:
            if val:
                buf[i >> 3] |= 1 << (i & 7)
            else:
                buf[i >> 3] &= ~(1 << (i & 7)) & _FULL
            i += 1

    def take_clear(self, start):
        """Find a clear bit at or after byte start >> 3 (wrapping round to
        byte 0), set it and return its index; -1 if every bit is set."""
        buf = self.buf
        n = self.nbytes
        k = start >> 3
        if k >= n:
            k = 0
        first = k
        while buf[k] == _FULL:
            k += 1
            if k == n:
                k = 0
            if k == first:
                return -1
        b = buf[k]
        bit = _LOW0[b]
        buf[k] = b | (1 << bit)
        return (k << 3) + bit

    def find_last(self, i, j, val):
        """Index of the last bit in [i, j) equal to val, or -1.

        Scans backwards so that a caller looking for a run of clear bits can
        jump straight past the obstacle; bytes holding no match are skipped
        whole."""
        buf = self.buf
        skip = 0 if val else _FULL
        k = j - 1
        while k >= i:
            if k & 7 == 7 and k - 7 >= i and buf[k >> 3] == skip:
                k -= 8
                continue
            if ((buf[k >> 3] >> (k & 7)) & 1) == val:
                return k
            k -= 1
        return -1

    def count_clear(self):
        """Number of clear bits (padding bits are set, so not counted)."""
        n = 0
        for b in self.buf:
            if b != _FULL:
                while b != _FULL:
                    b |= 1 << _LOW0[b]
                    n += 1
        return n
