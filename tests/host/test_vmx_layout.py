# Host tests for the VMX layouts: every VMCS field encoding checked against
# the SDM Appendix B table it is declared under (width in bits 14:13, type in
# bits 11:10, full access), no field defined twice; the width-checked VMCS
# accessors; EPT entries and EPTP; I/O and MSR bitmaps and the MSR areas.
import re
from pathlib import Path

import pytest

from hv.host.allocator import BitmapFrameAllocator
from hv.npt.paging import NestedPageTable, R, W, X
from hv.npt import ept
from hv.vcpu.vmx import defs, fields as F, structs, vmcs
from vmx_fakes import MiB, FakeHw, FakeVmx, Memory

SOURCE = Path(F.__file__).read_text()
# Table B-n -> (width group of bits 14:13, type of bits 11:10) (SDM 3C 25.11.2).
TABLES = {
    "B-1": (0, 0), "B-2": (0, 2), "B-3": (0, 3),
    "B-4": (1, 0), "B-5": (1, 1), "B-6": (1, 2), "B-7": (1, 3),
    "B-8": (2, 0), "B-9": (2, 1), "B-10": (2, 2), "B-11": (2, 3),
    "B-12": (3, 0), "B-13": (3, 1), "B-14": (3, 2), "B-15": (3, 3),
}


def declared_fields():
    """[(name, encoding, table)] in source order, from the '# --- ... (Table B-n) ---' headers."""
    out, table = [], None
    for line in SOURCE.splitlines():
        m = re.match(r"# --- B\.\d\.\d .*\(Tables? (B-\d+)\) ---", line)
        if m:
            table = m.group(1)
            continue
        m = re.match(r"([A-Z0-9_]+) = const\((0x[0-9A-F]+)\)", line)
        if m:
            out.append((m.group(1), int(m.group(2), 16), table))
    return out


def test_every_table_is_declared_in_appendix_b_order():
    seen = [t for _, _, t in declared_fields()]
    tables = list(dict.fromkeys(seen))
    assert tables == list(TABLES)
    assert len(declared_fields()) > 150


@pytest.mark.parametrize("name,enc,table", declared_fields())
def test_encoding_matches_its_table(name, enc, table):
    width, kind = TABLES[table]
    assert vmcs.width_of(enc) == width, f"{name} is in Table {table}"
    assert (enc >> 10) & 3 == kind, f"{name} is in Table {table}"
    assert enc & 1 == 0, "only full-access encodings are declared"
    assert enc >> 15 == 0 and (enc >> 12) & 1 == 0, "bits 31:15 and 12 are reserved"
    assert getattr(F, name) == enc


def test_no_field_defined_twice():
    fields = declared_fields()
    names = [n for n, _, _ in fields]
    encodings = [e for _, e, _ in fields]
    assert len(set(names)) == len(names)
    assert len(set(encodings)) == len(encodings)


def test_segments_table_uses_one_register_per_row():
    # Segment i (ES=0 .. TR=7) has selector and limit index i, base index
    # i + 3 and access-rights index i + 10 in Tables B-2, B-14 and B-10.
    for i, (name, *encs) in enumerate(F.SEGMENTS):
        assert [vmcs.width_of(e) for e in encs] == [0, 3, 2, 2], name
        assert [(e >> 1) & 0x1FF for e in encs] == [i, i + 3, i, i + 10], name


@pytest.fixture
def loaded():
    mem = Memory()
    hw = FakeHw(mem)
    native = FakeVmx(hw)
    v = vmcs.Vmcs(0x200000, 0x2B, native, hw.mem)
    v.load()
    return v, native


def test_vmcs_region_gets_revision_and_is_cleared(loaded):
    v, native = loaded
    assert bytes(native.hw.mem(0x200000, 8)) == b"\x2b\0\0\0\0\0\0\0"
    assert native.launched[0x200000] is False and not v.launched


def test_accessors_check_the_width(loaded):
    v, _ = loaded
    v.write16(F.GUEST_CS_SELECTOR, 0x08)
    v.write32(F.GUEST_CS_LIMIT, 0xFFFFFFFF)
    v.write64(F.EPT_POINTER, 0x501E)
    v.writen(F.GUEST_RIP, 0xFFFFFFFF80000000)
    assert v.read16(F.GUEST_CS_SELECTOR) == 8 and v.readn(F.GUEST_RIP) == 0xFFFFFFFF80000000
    for bad in (lambda: v.read16(F.GUEST_RIP), lambda: v.read32(F.EPT_POINTER),
                lambda: v.read64(F.GUEST_CS_LIMIT), lambda: v.readn(F.GUEST_CS_SELECTOR),
                lambda: v.write32(F.GUEST_CS_SELECTOR, 1), lambda: v.write64(F.GUEST_RIP, 1)):
        with pytest.raises(vmcs.VmcsWidthError):
            bad()
    with pytest.raises(vmcs.VmcsWidthError, match="does not fit 16-bit"):
        v.write16(F.GUEST_CS_SELECTOR, 0x10000)
    with pytest.raises(vmcs.VmcsWidthError, match="does not fit 32-bit"):
        v.write32(F.GUEST_CS_LIMIT, 1 << 32)


def test_read_only_field_write_is_vmfail_13(loaded):
    v, native = loaded
    with pytest.raises(native.VMXFail) as e:
        v.write32(F.VM_EXIT_REASON, 1)
    assert e.value.error == 13


def test_segments_and_dump(loaded):
    v, _ = loaded
    v.set_segment(F.SEGMENTS[1], 0x08, 0, 0xFFFFFFFF, defs.AR_CODE64)
    assert v.segment(F.SEGMENTS[1]) == (0x08, 0, 0xFFFFFFFF, 0xA09B)
    assert "cs   sel 0x0008" in v.dump()


def test_ept_entries():
    f = ept.EptFormat()
    assert f.table(0x3000) == 0x3007
    assert f.leaf(0x200000, R | W | X, True) == 0x2000B7       # FACTS: 2 MiB leaf | 0xB7
    assert f.leaf(0x5000, R, False) == 0x5031
    assert f.perms(f.leaf(0x5000, R | X, False)) == R | X
    with pytest.raises(ValueError, match="writable but not readable"):
        f.leaf(0x5000, W, False)
    with pytest.raises(ValueError, match="execute-only"):
        f.leaf(0x5000, X, False)
    assert ept.EptFormat(execute_only=True).leaf(0x5000, X, False) == 0x5034


def test_eptp_accessed_dirty_only_with_the_capability():
    cap = 0xF0106334141                                         # Bochs: bit 21 set
    assert ept.eptp_for(0x7000, cap) == 0x705E
    assert ept.eptp_for(0x7000, cap, want_accessed_dirty=False) == 0x701E
    assert ept.eptp_for(0x7000, cap & ~defs.EPT_CAP_ACCESSED_DIRTY) == 0x701E
    assert ept.eptp_for(0x7000, cap & ~defs.EPT_CAP_WB) & 7 == defs.MEMTYPE_UC
    with pytest.raises(ValueError, match="4-level"):
        ept.eptp_for(0x7000, cap & ~defs.EPT_CAP_WALK_LENGTH_4)


def test_ept_through_the_shared_builder():
    mem = Memory()
    a = BitmapFrameAllocator([(MiB, 16 * MiB)], [], mem.mem)
    t = NestedPageTable(a, ept.EptFormat())
    t.map(0x400000, 0x600000, 0x200000, "rwx")
    t.map(0x1000, 0x800000, 0x1000, "r")
    assert t.translate(0x400123) == (0x600123, R | W | X)
    assert t.translate(0x1008) == (0x800008, R)
    pml4 = int.from_bytes(mem.mem(t.root, 8), "little")
    assert pml4 & 7 == 7 and not pml4 & 0x80


def test_msr_bitmap_positions():
    assert structs.msr_bitmap_position(0x10) == (2, 0)
    assert structs.msr_bitmap_position(0x1FFF) == (0x3FF, 7)
    assert structs.msr_bitmap_position(0xC0000080) == (0x400 + 0x10, 0)
    assert structs.msr_bitmap_position(0x4D500001) is None
    assert structs.msr_bitmap_position(0x2000) is None


def test_bitmaps_and_msr_areas():
    mem = Memory()
    a = BitmapFrameAllocator([(MiB, 16 * MiB)], [], mem.mem)
    free0 = a.free_count()
    io = structs.IoBitmaps(a)
    assert io.pa_b == io.pa + 4096 and io.intercepted(0x600) and io.intercepted(0xFFFF)
    io.set(0x8000, 2, False)
    assert not io.intercepted(0x8001) and io.mem[4096] == 0xFC and io.intercepted(0x8002)
    msr = structs.MsrBitmap(a)
    msr.set(0xC0000100, False, True)
    assert msr.intercepted(0xC0000100) == (False, True)
    assert msr.mem[0x400 + 0x20] == 0xFE and msr.mem[0xC00 + 0x20] == 0xFF
    with pytest.raises(ValueError, match="always intercepted"):
        msr.set(0x4D500001, False, False)
    areas = structs.MsrAreas(a, (0xC0000081, 0xC0000102), (0x23, 0x45))
    assert areas.count == 2 and areas.host_pa == areas.pa + 0x800
    assert bytes(areas.mem[0:8]) == b"\x81\0\0\xc0\0\0\0\0"
    assert int.from_bytes(areas.mem[0x818:0x820], "little") == 0x45
    areas.set_guest_value(0xC0000102, 7)
    assert areas.guest_value(0xC0000102) == 7
    for s in (io, msr, areas):
        s.close()
    assert a.free_count() == free0


def test_ept_1g_leaves():
    mem = Memory()
    a = BitmapFrameAllocator([(MiB, 16 * MiB)], [], mem.mem)
    free0 = a.free_count()
    t = ept.EptTable(a, huge=True)
    t.map(1 << 30, 3 << 30, (1 << 30) + 0x201000, "rw")            # 1 GiB, then 2 MiB + 4 KiB
    leaf = t._leaf((1 << 30) + 0x12345)
    assert leaf[3] == ept.PAGE_1G and leaf[2] == (3 << 30) | 0xB3    # PS | WB | RW
    assert t.translate((1 << 30) + 0x12345) == ((3 << 30) + 0x12345, R | W)
    assert t._leaf((2 << 30) + 0x1000)[3] == 0x200000
    assert t._leaf((2 << 30) + 0x200000)[3] == 0x1000
    removed = t.unmap((1 << 30) + 0x400000, 0x201000)               # inside the 1 GiB leaf
    assert removed == [((1 << 30) + 0x400000, (3 << 30) + 0x400000, 0x200000),
                       ((1 << 30) + 0x600000, (3 << 30) + 0x600000, 0x1000)]
    assert t.translate((1 << 30) + 0x400000) is None
    assert t.translate((1 << 30) + 0x601000) == ((3 << 30) + 0x601000, R | W)
    assert t.translate((1 << 30) + 0x800000) == ((3 << 30) + 0x800000, R | W)
    t.close()
    assert a.free_count() == free0
    flat = ept.EptTable(a)                                           # no 1 GiB capability
    flat.map(1 << 30, 3 << 30, 1 << 30, "r")
    assert flat._leaf(1 << 30)[3] == 0x200000
    flat.close()


def test_ept_table_for_this_cpu():
    from vmx_fakes import BOCHS_MSRS
    t = ept.EptTable.for_cpu(BitmapFrameAllocator([(MiB, 4 * MiB)], [], Memory().mem),
                             BOCHS_MSRS.__getitem__)
    assert t.huge and t.fmt.execute_only
    t.close()


def test_ept_range_search_skips_absent_tables():
    mem = Memory()
    a = BitmapFrameAllocator([(MiB, 16 * MiB)], [], mem.mem)
    t = ept.EptTable(a, huge=True)
    t.map(0x40201000, 0x5000, 0x1000, "r")
    calls = []
    get = t._get
    t._get = lambda table, i: (calls.append(1), get(table, i))[1]
    assert t.translate(0, 4 << 30) == (0x40201000, 0x5000, R)
    assert len(calls) < 40
    assert t.translate(0x40202000, 1 << 30) is None
    t.close()
