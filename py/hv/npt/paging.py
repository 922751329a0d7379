# Nested page tables: guest-physical -> host-physical maps with 4 KiB and
# 2 MiB pages and R/W/X permissions, every table frame from a PhysFrameIf.
# NptFormat encodes AMD NPT entries (long-mode format, APM2 15.25.5 and 5.3);
# an EPT format plugs into the same builder. Runs on the bare-metal port
# and on CPython (host tests, over a fake allocator).
import struct
from micropython import const
from hv.host.frame import PhysFrame

R = const(1)
W = const(2)
X = const(4)
RWX = const(7)
PAGE_4K = const(0x1000)
PAGE_2M = const(0x200000)
_LEVEL_SHIFTS = (39, 30, 21, 12)            # PML4, PDPT, PD, PT index shifts


def parse_perms(perms):
    """'rwx'-style string or R|W|X int -> int."""
    if isinstance(perms, int):
        return perms
    p = 0
    for c in perms:
        p |= {"r": R, "w": W, "x": X, "-": 0}[c]
    return p


NPT_P = const(1 << 0)
NPT_RW = const(1 << 1)
NPT_US = const(1 << 2)
NPT_PS = const(1 << 7)                      # 2 MiB leaf in a PD (APM2 5.3.4)
NPT_NX = 1 << 63
NPT_ADDR = const(0x000FFFFFFFFFF000)


class NptFormat:
    """AMD64 long-mode page-table entries as the nested walk reads them.
    Every level needs U/S = 1: nested accesses count as user accesses
    (APM2 15.25.5). NX needs the host's EFER.NXE (set by svm.percpu)."""

    @staticmethod
    def table(pa):
        return pa | NPT_P | NPT_RW | NPT_US

    @staticmethod
    def leaf(hpa, perms, large):
        if not perms & R:
            raise ValueError("NPT cannot map a page without read permission")
        e = hpa | NPT_P | NPT_US
        if perms & W:
            e |= NPT_RW
        if not perms & X:
            e |= NPT_NX
        if large:
            e |= NPT_PS
        return e

    @staticmethod
    def present(e):
        return e & NPT_P

    @staticmethod
    def is_large(e):
        return e & NPT_PS

    @staticmethod
    def addr(e):
        return e & NPT_ADDR

    @staticmethod
    def perms(e):
        return R | (W if e & NPT_RW else 0) | (0 if e & NPT_NX else X)


class MappingError(ValueError):
    pass


class NestedPageTable:
    """A 4-level nested page table. map/unmap/translate by guest-physical
    address; close() returns every table frame."""

    def __init__(self, allocator, fmt=NptFormat):
        self._allocator = allocator
        self.fmt = fmt
        self._tables = {}
        self._last_pt = None            # (gpa >> 21, its page table): map_page()'s last walk
        self.root = self._new_table()

    def _new_table(self):
        f = PhysFrame.alloc(self._allocator)
        self._tables[f.start_paddr] = f
        return f.start_paddr

    def _get(self, table, i):
        return struct.unpack_from("<Q", self._tables[table].mem, i * 8)[0]

    def _set(self, table, i, e):
        struct.pack_into("<Q", self._tables[table].mem, i * 8, e)

    def _table_for(self, gpa, depth, create):
        """Table at depth (0 = PML4 .. 3 = PT) covering gpa, or None."""
        t = self.root
        fmt = self.fmt
        for shift in _LEVEL_SHIFTS[:depth]:
            i = (gpa >> shift) & 511
            e = self._get(t, i)
            if not fmt.present(e):
                if not create:
                    return None
                n = self._new_table()
                self._set(t, i, fmt.table(n))
                t = n
            elif shift != 39 and fmt.is_large(e):
                raise MappingError("%#x lies in a large page" % gpa)
            else:
                t = fmt.addr(e)
        return t

    def map(self, gpa, hpa, size, perms):
        """Map [gpa, gpa+size) to [hpa, ...): 2 MiB leaves where both are
        2 MiB aligned and a whole 2 MiB remains, 4 KiB leaves otherwise."""
        self._last_pt = None            # a large leaf may take the place of a table
        perms = parse_perms(perms)
        if (gpa | hpa | size) & (PAGE_4K - 1) or size <= 0:
            raise MappingError("unaligned map %#x -> %#x size %#x" % (gpa, hpa, size))
        if self.translate(gpa, size) is not None:
            raise MappingError("%#x+%#x is already mapped" % (gpa, size))
        fmt = self.fmt
        end = gpa + size
        while gpa < end:
            if not (gpa | hpa) & (PAGE_2M - 1) and end - gpa >= PAGE_2M:
                pd = self._table_for(gpa, 2, True)
                self._set(pd, (gpa >> 21) & 511, fmt.leaf(hpa, perms, True))
                step = PAGE_2M
            else:
                pt = self._table_for(gpa, 3, True)
                self._set(pt, (gpa >> 12) & 511, fmt.leaf(hpa, perms, False))
                step = PAGE_4K
            gpa += step
            hpa += step

    def map_page(self, gpa, hpa, perms):
        """One 4 KiB leaf (perms an int) where the caller knows nothing is
        mapped yet, e.g. a fresh RAM page (hv.vmm.ram): map()'s argument
        checks and its walk over the range left out of a hot path. The
        page table of the last 2 MiB block it mapped into is kept: fresh
        pages come in runs (a guest touching new memory), and the walk
        was most of the cost. map() and unmap() forget it."""
        block = gpa >> 21
        last = self._last_pt
        if last is not None and last[0] == block:
            pt = last[1]
        else:
            pt = self._table_for(gpa, 3, True)
            self._last_pt = (block, pt)
        self._set(pt, (gpa >> 12) & 511, self.fmt.leaf(hpa, perms, False))

    def _leaf(self, gpa):
        """(table, index, entry, page size) of the leaf for gpa, or None."""
        fmt = self.fmt
        pd = self._table_for(gpa, 2, False)
        if pd is None:
            return None
        i = (gpa >> 21) & 511
        e = self._get(pd, i)
        if not fmt.present(e):
            return None
        if fmt.is_large(e):
            return pd, i, e, PAGE_2M
        pt = fmt.addr(e)
        i = (gpa >> 12) & 511
        e = self._get(pt, i)
        return (pt, i, e, PAGE_4K) if fmt.present(e) else None

    def translate(self, gpa, size=1):
        """(hpa, perms) of gpa; with size, the first mapped page in
        [gpa, gpa+size) as (gpa_of_page, hpa, perms), or None."""
        if size == 1:
            leaf = self._leaf(gpa)
            if leaf is None:
                return None
            e, psize = leaf[2], leaf[3]
            return self.fmt.addr(e) & ~(psize - 1) | gpa & (psize - 1), self.fmt.perms(e)
        fmt = self.fmt
        g = gpa & ~(PAGE_4K - 1)
        while g < gpa + size:
            leaf = self._leaf(g)
            if leaf is not None:
                return g, fmt.addr(leaf[2]), fmt.perms(leaf[2])
            pd = self._table_for(g, 2, False)
            if pd is None or not fmt.present(self._get(pd, (g >> 21) & 511)):
                g = (g | (PAGE_2M - 1)) + 1     # nothing in this 2 MiB block: the next one
            else:
                g += PAGE_4K
        return None

    def _split(self, pd, i, e):
        # One 2 MiB leaf -> a page table of 512 4 KiB leaves, same rights.
        fmt = self.fmt
        base, perms = fmt.addr(e) & ~(PAGE_2M - 1), fmt.perms(e)
        pt = self._new_table()
        for k in range(512):
            self._set(pt, k, fmt.leaf(base + k * PAGE_4K, perms, False))
        self._set(pd, i, fmt.table(pt))

    def unmap(self, gpa, size):
        """Remove the leaves in [gpa, gpa+size), splitting a 2 MiB leaf the
        range covers only in part. Returns [(gpa, hpa, page size)] removed.
        The caller flushes the guest's TLB (ASID) before the next run."""
        if (gpa | size) & (PAGE_4K - 1) or size <= 0:
            raise MappingError("unaligned unmap %#x size %#x" % (gpa, size))
        self._last_pt = None
        removed = []
        end = gpa + size
        g = gpa
        while g < end:
            leaf = self._leaf(g)
            if leaf is None:
                g += PAGE_4K
                continue
            t, i, e, psize = leaf
            if psize == PAGE_2M and (g & (PAGE_2M - 1) or end - g < PAGE_2M):
                self._split(t, i, e)
                continue
            self._set(t, i, 0)
            removed.append((g, self.fmt.addr(e), psize))
            g += psize
        return removed

    def table_frames(self):
        return len(self._tables)

    def table_addresses(self):
        """Host-physical addresses of every table frame (root first)."""
        return [self.root] + [pa for pa in self._tables if pa != self.root]

    def leaves(self):
        """Every present leaf as (gpa, address field, page size), in
        guest-physical order: all the guest can reach. The address field is
        the entry's raw bits 51:12, so a large leaf with stray low bits shows."""
        out = []
        if self.root is not None:
            self._walk(self.root, 0, 39, out)
        return out

    def _walk(self, table, base, shift, out):
        fmt = self.fmt
        for i in range(512):
            e = self._get(table, i)             # KeyError: a table we do not own
            if not fmt.present(e):
                continue
            g = base | i << shift
            if shift == 12 or shift != 39 and fmt.is_large(e):
                out.append((g, fmt.addr(e), 1 << shift))
            else:
                self._walk(fmt.addr(e), g, shift - 9, out)

    def close(self):
        self._last_pt = None
        for f in self._tables.values():
            f.close()
        self._tables = {}
        self.root = None
