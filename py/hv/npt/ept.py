# EPT (SDM 3C 29.3.2, 25.6.11): entries as a format for hv.npt.paging's builder,
# that builder with 1 GiB leaves, and the EPTP. Write-back leaves; execute-
# only leaves, 1 GiB pages and A/D flags only where IA32_VMX_EPT_VPID_CAP
# allows them. Runs on the bare-metal port and on CPython.
from micropython import const
from hv.x86.msr import IA32_VMX_EPT_VPID_CAP
from hv.npt.paging import (PAGE_2M, PAGE_4K, R, W, MappingError, NestedPageTable,
                       parse_perms)
from hv.vcpu.vmx import defs

PAGE_1G = const(0x40000000)

EPT_READ = const(1 << 0)
EPT_WRITE = const(1 << 1)
EPT_EXECUTE = const(1 << 2)
EPT_RWX = const(7)
EPT_MEMTYPE_SHIFT = const(3)        # bits 5:3 of a leaf
EPT_IGNORE_PAT = const(1 << 6)
EPT_LARGE = const(1 << 7)           # 1 GiB PDPTE or 2 MiB PDE maps a page
EPT_ACCESSED = const(1 << 8)
EPT_DIRTY = const(1 << 9)
EPT_ADDR = const(0x000FFFFFFFFFF000)


class EptFormat:
    """Entries for the shared nested-page-table builder. R/W/X map to EPT
    bits 0-2 one to one. Non-leaf entries allow everything (the leaf
    decides, 29.3.3.2)."""

    def __init__(self, execute_only=False):
        self.execute_only = execute_only

    @staticmethod
    def table(pa):
        return pa | EPT_RWX

    def leaf(self, hpa, perms, large):
        # Write without read is a misconfiguration (29.3.3.1), so is
        # execute-only without the capability.
        if perms & W and not perms & R:
            raise ValueError("EPT cannot map a page writable but not readable")
        if not perms & R and not self.execute_only:
            raise ValueError("this CPU has no execute-only EPT pages (IA32_VMX_EPT_VPID_CAP[0])")
        e = hpa | (perms & 7) | defs.MEMTYPE_WB << EPT_MEMTYPE_SHIFT
        if large:
            e |= EPT_LARGE
        return e

    @staticmethod
    def present(e):
        return e & EPT_RWX

    @staticmethod
    def is_large(e):
        return e & EPT_LARGE

    @staticmethod
    def addr(e):
        return e & EPT_ADDR

    @staticmethod
    def perms(e):
        return e & 7


def eptp_for(root, ept_vpid_cap, want_accessed_dirty=True):
    """EPTP for a 4-level EPT at root: write-back paging structures where
    the capability allows WB (else uncacheable), A/D flags only where
    IA32_VMX_EPT_VPID_CAP[21] says the CPU has them (SDM App. A.10)."""
    if not ept_vpid_cap & defs.EPT_CAP_WALK_LENGTH_4:
        raise ValueError("this CPU has no 4-level EPT (IA32_VMX_EPT_VPID_CAP[6])")
    memtype = defs.MEMTYPE_WB if ept_vpid_cap & defs.EPT_CAP_WB else defs.MEMTYPE_UC
    ad = want_accessed_dirty and bool(ept_vpid_cap & defs.EPT_CAP_ACCESSED_DIRTY)
    return defs.eptp(root, memtype, ad)


class EptTable(NestedPageTable):
    """hv.npt.paging's builder with EPT entries and, where the CPU has them
    (IA32_VMX_EPT_VPID_CAP[17]), 1 GiB leaves in the PDPT for ranges whose
    guest and host addresses are 1 GiB aligned and a whole GiB long (SDM 3C
    29.3.2, Table 29-2). unmap() first splits every 1 GiB leaf it touches
    into 2 MiB leaves, so what it reports is never larger than 2 MiB, as
    the VM's own accounting (hv.vmm.vm) expects."""

    def __init__(self, allocator, execute_only=False, huge=False):
        super().__init__(allocator, EptFormat(execute_only))
        self.huge = huge

    @classmethod
    def for_cpu(cls, allocator, rdmsr):
        cap = rdmsr(IA32_VMX_EPT_VPID_CAP)
        return cls(allocator, bool(cap & defs.EPT_CAP_EXECUTE_ONLY),
                   bool(cap & defs.EPT_CAP_1G_PAGES))

    def map(self, gpa, hpa, size, perms):
        self._last_pt = None            # a 1 GiB leaf may take the place of a table
        if not self.huge:
            return super().map(gpa, hpa, size, perms)
        perms = parse_perms(perms)
        if (gpa | hpa | size) & (PAGE_4K - 1) or size <= 0:
            raise MappingError("unaligned map %#x -> %#x size %#x" % (gpa, hpa, size))
        if self.translate(gpa, size) is not None:
            raise MappingError("%#x+%#x is already mapped" % (gpa, size))
        end = gpa + size
        while gpa < end:
            if not (gpa | hpa) & (PAGE_1G - 1) and end - gpa >= PAGE_1G:
                pdpt = self._table_for(gpa, 1, True)
                self._set(pdpt, (gpa >> 30) & 511, self.fmt.leaf(hpa, perms, True))
                step = PAGE_1G
            else:                           # up to the next GiB: 2 MiB and 4 KiB leaves
                step = min(end, (gpa | (PAGE_1G - 1)) + 1) - gpa
                super().map(gpa, hpa, step, perms)
            gpa += step
            hpa += step

    def _leaf(self, gpa):
        pdpt = self._table_for(gpa, 1, False)
        if pdpt is None:
            return None
        i = (gpa >> 30) & 511
        e = self._get(pdpt, i)
        if self.fmt.present(e) and self.fmt.is_large(e):
            return pdpt, i, e, PAGE_1G
        return super()._leaf(gpa)

    def translate(self, gpa, size=1):
        """As the builder's, but a range is searched by skipping whole absent
        tables, not page by page: a 1 GiB map() checks 1 entry, not 262144."""
        if size == 1:
            return super().translate(gpa)
        g = gpa & ~(PAGE_4K - 1)
        while g < gpa + size:
            span = self._absent_span(g)
            if not span:
                e = self._leaf(g)[2]
                return g, self.fmt.addr(e), self.fmt.perms(e)
            g = (g & ~(span - 1)) + span
        return None

    def _absent_span(self, g):
        # 0 when g is mapped, else the size the absent entry covering g maps.
        t, fmt = self.root, self.fmt
        for shift in (39, 30, 21, 12):
            e = self._get(t, (g >> shift) & 511)
            if not fmt.present(e):
                return 1 << shift
            if shift == 12 or shift != 39 and fmt.is_large(e):
                return 0
            t = fmt.addr(e)

    def unmap(self, gpa, size):
        self._last_pt = None
        g = gpa & ~(PAGE_1G - 1)
        while g < gpa + size:
            leaf = self._leaf(g)
            if leaf is not None and leaf[3] == PAGE_1G:
                pdpt, i, e, _ = leaf        # one 1 GiB leaf -> 512 2 MiB leaves, same rights
                base, perms = self.fmt.addr(e), self.fmt.perms(e)
                pd = self._new_table()
                for k in range(512):
                    self._set(pd, k, self.fmt.leaf(base + k * PAGE_2M, perms, True))
                self._set(pdpt, i, self.fmt.table(pd))
            g += PAGE_1G
        return super().unmap(gpa, size)
