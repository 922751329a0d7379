# Host tests for nested page tables (hv.npt.paging: NPT entries, 4 KiB / 2 MiB
# maps, splitting, frames returned), the guest page walk (hv.x86.gwalk), the
# instruction-length decoder (hv.x86.insn) and its viper twin that steps RIP
# without NRIPS (hv.vcpu.svm.nextrip), checked against each other.
import random
import struct

import pytest

from hv.x86 import gwalk, insn
from hv.npt import paging
from hv.x86.guest_tables import long_mode_tables
from hv.npt.paging import NptFormat, NestedPageTable, PAGE_2M, PAGE_4K, R, W, X
from hv.vcpu.svm import vmcb as V
from hv.vcpu.svm.nextrip import advance, complete_cpuid
from svm_fakes import Machine

MiB = 1 << 20


# -- entries ------------------------------------------------------------------
def test_npt_table_entries_are_present_writable_user():
    assert NptFormat.table(0x123000) == 0x123000 | 0x7


@pytest.mark.parametrize("perms,bits", [
    (R, 0x5 | 1 << 63), (R | W, 0x7 | 1 << 63), (R | X, 0x5), (R | W | X, 0x7),
])
def test_npt_leaf_permissions(perms, bits):
    assert NptFormat.leaf(0x5000, perms, False) == 0x5000 | bits
    assert NptFormat.leaf(0x200000, perms, True) == 0x200000 | bits | 0x80
    assert NptFormat.perms(NptFormat.leaf(0x5000, perms, False)) == perms


def test_npt_cannot_express_write_or_execute_only():
    with pytest.raises(ValueError):
        NptFormat.leaf(0x5000, W | X, False)


def test_parse_perms():
    assert paging.parse_perms("rwx") == 7 and paging.parse_perms("r-x") == 5 and paging.parse_perms(3) == 3


# -- the builder ----------------------------------------------------------------
@pytest.fixture
def machine():
    return Machine()


def walk_entries(m, npt, gpa):
    """The raw entries the hardware walk reads for gpa (root to leaf)."""
    out, t = [], npt.root
    for shift in (39, 30, 21, 12):
        e = struct.unpack_from("<Q", m.memory.data, t + ((gpa >> shift) & 511) * 8)[0]
        out.append(e)
        if not e & 1 or (shift in (30, 21) and e & 0x80):
            break
        t = e & NptFormat_ADDR
    return out


NptFormat_ADDR = 0x000FFFFFFFFFF000


def test_map_4k_and_2m(machine):
    a = machine.allocator
    free0 = a.free_count()
    npt = NestedPageTable(a)
    npt.map(0x1000, 0x1234000, 0x2000, "rw")
    npt.map(0x400000, 0x1600000, PAGE_2M, "rwx")
    npt.map(0x800000, 0x1801000, PAGE_2M, "r")        # host not 2 MiB aligned: 512 small pages
    assert npt.translate(0x1ABC) == (0x1234ABC, R | W)
    assert npt.translate(0x2ABC) == (0x1235ABC, R | W)
    assert npt.translate(0x4ABCDE) == (0x16ABCDE, R | W | X)
    assert npt.translate(0x9FF000) == (0x1A00000, R)
    assert npt.translate(0x3000) is None
    entries = walk_entries(machine, npt, 0x400000)
    assert len(entries) == 3 and entries[-1] & 0x80      # PML4, PDPT, 2 MiB PDE
    assert all(e & 4 for e in entries)                   # U/S at every level (APM2 15.25.5)
    assert len(walk_entries(machine, npt, 0x800000)) == 4
    with pytest.raises(paging.MappingError):
        npt.map(0x2000, 0x5000, 0x1000, "rw")            # already mapped
    with pytest.raises(paging.MappingError):
        npt.map(0x3800, 0x5000, 0x1000, "rw")            # unaligned
    npt.close()
    assert a.free_count() == free0


def test_unmap_splits_a_large_page(machine):
    npt = NestedPageTable(machine.allocator)
    npt.map(0x200000, 0x1400000, PAGE_2M, "rwx")
    removed = npt.unmap(0x201000, 0x1000)
    assert removed == [(0x201000, 0x1401000, PAGE_4K)]
    assert npt.translate(0x201000) is None
    assert npt.translate(0x200000) == (0x1400000, 7) and npt.translate(0x3FF000) == (0x15FF000, 7)
    assert len(walk_entries(machine, npt, 0x200000)) == 4    # now 4 KiB pages
    assert npt.unmap(0x200000, PAGE_2M)[0] == (0x200000, 0x1400000, PAGE_4K)
    assert npt.translate(0x200000, PAGE_2M) is None
    # A range is looked at by blocks: the page past two empty 2 MiB blocks.
    npt.map(0x7FF000, 0x1800000, PAGE_4K, "rw")
    assert npt.translate(0x200000, 0x600000) == (0x7FF000, 0x1800000, R | W)
    assert npt.translate(0x200000, 0x5FF000) is None
    npt.close()


def test_unmap_whole_large_page_keeps_it_large(machine):
    npt = NestedPageTable(machine.allocator)
    npt.map(0x200000, 0x1400000, 2 * PAGE_2M, "rw")
    assert npt.unmap(0x200000, PAGE_2M) == [(0x200000, 0x1400000, PAGE_2M)]
    assert npt.translate(0x400000) == (0x1600000, R | W)
    npt.close()


def test_map_page_walks_once_per_block_and_never_into_a_replaced_table(machine, monkeypatch):
    npt = NestedPageTable(machine.allocator)
    walks = []
    table_for = npt._table_for
    monkeypatch.setattr(npt, "_table_for", lambda *a: walks.append(a) or table_for(*a))
    for k in range(4):                                   # a run of fresh pages in one block
        npt.map_page(0x200000 + k * PAGE_4K, 0x1400000 + k * PAGE_4K, R | W | X)
    assert len(walks) == 1
    assert npt.translate(0x203000) == (0x1403000, R | W | X)
    # The block's pages unmapped, a 2 MiB leaf takes its page table's place:
    # a page mapped there now is a mapping error, not a write into that table.
    npt.unmap(0x200000, 4 * PAGE_4K)
    npt.map(0x200000, 0x1600000, PAGE_2M, "rw")
    with pytest.raises(paging.MappingError):
        npt.map_page(0x204000, 0x1404000, R | W)
    assert npt.translate(0x204000) == (0x1604000, R | W)
    npt.close()


# -- guest walk, decoder, and the viper stepper ------------------------------
@pytest.mark.parametrize("code,long,n", [
    (b"\x0f\xa2", True, 2), (b"\x66\x0f\xa2", True, 3), (b"\x48\x0f\xa2", True, 3),
    (b"\x48\x0f\xa2", False, None), (b"\xf4", False, 1), (b"\x0f\x01\xd9", False, 3),
    (b"\x0f\x01\xd1", True, 3), (b"\x0f\x32", True, 2), (b"\x0f\x30", False, 2),
    (b"\xe4\x60", False, 2), (b"\xee", True, 1), (b"\x2e\x3e\x0f\x08", False, 4),
    (b"\x0f\x01\xd8", True, 3), (b"\x90", True, None), (b"\x66" * 14 + b"\x0f\xa2", True, None),
])
def test_insn_length(code, long, n):
    buf = code + b"\x00" * 4
    if n is None:
        with pytest.raises(insn.DecodeError):
            insn.length(buf, long)
    else:
        assert insn.length(buf, long) == n


def rnd_op(code, i):
    return code[i:i + (3 if code[i + 1] == 1 else 1 if code[i] in (0xF4, 0xEC) else 2)]


def test_insn_table_matches_decoder():
    rnd = random.Random(5)
    ops = [b"\x0f\xa2", b"\xf4", b"\x0f\x01\xd9", b"\x0f\x30", b"\x0f\x32", b"\xec", b"\xe6\x80",
           b"\x0f\x01\xd1", b"\x0f\x08"]
    for _ in range(300):
        pre = bytes(rnd.choice([0x66, 0x67, 0xF3, 0x2E, 0x64]) for _ in range(rnd.randrange(4)))
        rex = bytes([0x40 | rnd.randrange(16)]) if rnd.random() < 0.3 else b""
        code = pre + rex + rnd.choice(ops) + b"\x00" * 8
        assert insn.length(code, True) == len(pre) + len(rex) + len(rnd_op(code, len(pre) + len(rex)))
        t = insn.TABLE
        i = 0
        while t[code[i]]:
            i += 1
        assert i == len(pre)


def make_long_guest(m, mem_size=16 * MiB, nrips=False):
    """A VM with a vCPU in long mode (hypervisor-built tables at 0x1000)."""
    vm = m.vm(mem_size)
    c = vm.new_vcpu()
    c.set_entry(0x10000)
    c.setup("long")
    return vm, c


@pytest.fixture(autouse=True)
def _fresh_percpu():
    from hv.vcpu.svm import percpu
    percpu._owner.state = None
    yield
    percpu._owner.state = None


def test_guest_walk_matches_hypervisor_tables(machine):
    vm, c = make_long_guest(machine)
    pieces, cr3 = long_mode_tables(0x1000, vm.mem_size)
    for lin in (0x10000, 0x1FFFFF, 0x3FFFFFFF, 0x200123):
        assert gwalk.translate(lin, 0x80010031, cr3, 0x20, 0x500, vm.read_phys64) == lin
    assert gwalk.translate(0x40000000, 0x80010031, cr3, 0x20, 0x500, vm.read_phys64) == -1
    assert gwalk.translate(0x1234, 0x11, 0, 0, 0, vm.read_phys64) == 0x1234     # paging off
    vm.close()


def test_guest_walk_4k_and_legacy_modes(machine):
    vm = machine.vm()
    # 32-bit legacy: PD at 0x5000, PT at 0x6000 maps 0x400000 -> 0x7000; a 4 MiB page at 8 MiB
    vm.write(0x5000 + 1 * 4, struct.pack("<I", 0x6000 | 3))
    vm.write(0x5000 + 2 * 4, struct.pack("<I", 0x800000 | 0x83))
    vm.write(0x6000, struct.pack("<I", 0x7000 | 3))
    assert gwalk.translate(0x400123, 1 << 31, 0x5000, 0x10, 0, vm.read_phys64) == 0x7123
    assert gwalk.translate(0x812345, 1 << 31, 0x5000, 0x10, 0, vm.read_phys64) == 0x812345
    assert gwalk.translate(0x401000, 1 << 31, 0x5000, 0x10, 0, vm.read_phys64) == -1
    # PAE: PDPTE 0 -> PD 0x8000 -> PT 0x9000 -> 0xA000
    vm.write(0x4000, struct.pack("<Q", 0x8000 | 1))
    vm.write(0x8000 + 8 * 2, struct.pack("<Q", 0x9000 | 3))
    vm.write(0x9000 + 8 * 5, struct.pack("<Q", 0xA000 | 3 | 1 << 63))
    assert gwalk.translate(0x405ABC, 1 << 31, 0x4000, 0x20, 0, vm.read_phys64) == 0xAABC
    vm.close()


def place(vm, c, gva, code, mode_long=True):
    vm.write(gva, code + b"\x00" * 16)
    c.vmcb.set(V.RIP, gva)


@pytest.mark.parametrize("code", [
    b"\x0f\xa2", b"\x66\x0f\xa2", b"\x48\x0f\xa2", b"\xf3\x67\x41\x0f\x32", b"\xf4",
    b"\x0f\x01\xd9", b"\x0f\x01\xd1", b"\x64\x0f\x30",
])
def test_advance_matches_the_python_decoder(machine, code):
    vm, c = make_long_guest(machine)
    for gva in (0x10000, 0x1FFFF0 - len(code), 0x234567):
        place(vm, c, gva, code)
        c.vmcb.set(V.INTERRUPT_STATE, 1)
        assert advance(c._pa, c._ncr3, insn.TABLE, 0) == 1
        assert c.vmcb.get(V.RIP) == gva + insn.length(code + b"\x00" * 8, True)
        assert c.vmcb.get(V.INTERRUPT_STATE) == 0
    vm.close()


def test_advance_leaves_hard_cases_to_python(machine):
    vm, c = make_long_guest(machine)
    place(vm, c, 0x10FFE, b"\x0f\xa2")                      # within 16 bytes of a page end
    assert advance(c._pa, c._ncr3, insn.TABLE, 0) == 0
    c.skip_slow()                                            # the Python path handles it
    assert c.vmcb.get(V.RIP) == 0x11000
    place(vm, c, 0x12000, b"\x90\x90")                      # not an intercepted instruction
    assert advance(c._pa, c._ncr3, insn.TABLE, 0) == 0
    c.vmcb.set(V.RIP, 0x40000000)                           # not mapped by the guest
    assert advance(c._pa, c._ncr3, insn.TABLE, 0) == 0
    vm.close()


def test_advance_uses_nrip_when_present(machine):
    vm, c = make_long_guest(machine)
    c.vmcb.set(V.RIP, 0x10000)
    c.vmcb.set(V.NRIP, 0x10007)
    assert advance(c._pa, c._ncr3, insn.TABLE, 1) == 1 and c.vmcb.get(V.RIP) == 0x10007
    vm.close()


@pytest.mark.parametrize("mode,entry,linear", [("real", 0x10000, 0x10000), ("protected", 0x10000, 0x10000)])
def test_advance_without_guest_paging(machine, mode, entry, linear):
    vm = machine.vm()
    c = vm.new_vcpu()
    c.set_entry(entry)
    c.setup(mode)
    vm.write(linear, b"\x66\x0f\xa2")
    assert advance(c._pa, c._ncr3, insn.TABLE, 0) == 1
    assert c.rip == (entry - (c.vmcb.get(V.seg_base(V.CS)))) + 3
    vm.close()


def test_complete_cpuid_writes_zero_extended_results(machine):
    vm, c = make_long_guest(machine)
    place(vm, c, 0x10000, b"\x0f\xa2")
    c.vmcb.set(V.RAX, (1 << 64) - 1)
    for i in range(16):
        c.gprs[i] = (1 << 64) - 1
    assert complete_cpuid(c._pa, c.gprs, 1, 2, 3, 4, c._ncr3, insn.TABLE, 0) == 1
    assert (c.get_gpr(0), c.get_gpr(3), c.get_gpr(1), c.get_gpr(2)) == (1, 2, 3, 4)
    assert c.get_gpr(5) == (1 << 64) - 1 and c.rip == 0x10002
    vm.close()
