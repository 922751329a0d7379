# Host tests for the SVM hardware definitions: VMCB layout against APM2
# Appendix B (typed here from Tables B-1 and B-2), the field encoding rule,
# segment attributes, exit codes, EXITINFO decoders, EVENTINJ, the MSRPM/IOPM
# positions and the software VMRUN consistency checks.
import pytest

from hv.x86 import guest_tables
from hv.vcpu.svm import defs, names, structs, vmcb as V
from hv.vcpu.svm.checks import vmrun_failures
from svm_fakes import Machine

# (field, offset, size in bytes) from APM2 Table B-1 (control area) and
# Table B-2 (state save area, offsets there are from 0x400).
TABLE_B1 = [
    ("INTERCEPT_CR", 0x000, 4), ("INTERCEPT_DR", 0x004, 4), ("INTERCEPT_EXCEPTIONS", 0x008, 4),
    ("INTERCEPT_MISC1", 0x00C, 4), ("INTERCEPT_MISC2", 0x010, 4), ("INTERCEPT_MISC3", 0x014, 4),
    ("PAUSE_FILTER_THRESHOLD", 0x03C, 2), ("PAUSE_FILTER_COUNT", 0x03E, 2),
    ("IOPM_BASE_PA", 0x040, 8), ("MSRPM_BASE_PA", 0x048, 8), ("TSC_OFFSET", 0x050, 8),
    ("GUEST_ASID", 0x058, 4), ("TLB_CONTROL", 0x05C, 1), ("VINTR", 0x060, 8),
    ("INTERRUPT_STATE", 0x068, 8), ("EXITCODE", 0x070, 8), ("EXITINFO1", 0x078, 8),
    ("EXITINFO2", 0x080, 8), ("EXITINTINFO", 0x088, 8), ("NP_CONTROL", 0x090, 8),
    ("AVIC_APIC_BAR", 0x098, 8), ("GHCB_PA", 0x0A0, 8), ("EVENTINJ", 0x0A8, 8),
    ("N_CR3", 0x0B0, 8), ("LBR_VIRT", 0x0B8, 8), ("CLEAN_BITS", 0x0C0, 4), ("NRIP", 0x0C8, 8),
    ("INSN_BYTES_FETCHED", 0x0D0, 1),
]
TABLE_B2 = [
    ("CPL", 0x0CB, 1), ("EFER", 0x0D0, 8), ("CR4", 0x148, 8), ("CR3", 0x150, 8),
    ("CR0", 0x158, 8), ("DR7", 0x160, 8), ("DR6", 0x168, 8), ("RFLAGS", 0x170, 8),
    ("RIP", 0x178, 8), ("RSP", 0x1D8, 8), ("RAX", 0x1F8, 8), ("STAR", 0x200, 8),
    ("LSTAR", 0x208, 8), ("CSTAR", 0x210, 8), ("SFMASK", 0x218, 8), ("KERNEL_GS_BASE", 0x220, 8),
    ("SYSENTER_CS", 0x228, 8), ("SYSENTER_ESP", 0x230, 8), ("SYSENTER_EIP", 0x238, 8),
    ("CR2", 0x240, 8), ("G_PAT", 0x268, 8), ("DBGCTL", 0x270, 8),
]
SEGMENTS_B2 = [("ES", 0x000), ("CS", 0x010), ("SS", 0x020), ("DS", 0x030), ("FS", 0x040),
               ("GS", 0x050), ("GDTR", 0x060), ("LDTR", 0x070), ("IDTR", 0x080), ("TR", 0x090)]


@pytest.mark.parametrize("name,offset,size", TABLE_B1 + [(n, o + 0x400, s) for n, o, s in TABLE_B2])
def test_vmcb_field_matches_appendix_b(name, offset, size):
    f = getattr(V, name)
    assert V.offset_of(f) == offset and V.width_of(f) == size
    assert f == V.field(offset, size)                 # the encoding rule, not trusted typing
    assert offset % size == 0                         # naturally aligned


def test_vmcb_segments_and_shortcuts():
    for name, off in SEGMENTS_B2:
        assert getattr(V, name) == 0x400 + off
    assert V.CS_BASE == V.seg_base(V.CS) and V.CS_ATTRIB == V.seg_attrib(V.CS)
    assert [V.offset_of(g(V.ES)) for g in (V.seg_selector, V.seg_attrib, V.seg_limit, V.seg_base)] \
        == [0x400, 0x402, 0x404, 0x408]


def test_vmcb_fields_do_not_overlap():
    spans = sorted((V.offset_of(getattr(V, n)), V.offset_of(getattr(V, n)) + V.width_of(getattr(V, n)))
                   for n, _, _ in TABLE_B1 + TABLE_B2)
    for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
        assert a1 <= b0
    assert spans[-1][1] <= V.VMCB_SIZE


def test_vmcb_accessors_are_width_exact():
    m = Machine()
    pa = m.allocator.alloc_frame()
    v = V.Vmcb(pa)
    m.memory.write(pa, b"\xee" * 4096)
    v.set(V.TLB_CONTROL, 0x1FF)                       # one byte: 0xFF, neighbours untouched
    assert m.memory.read(pa + 0x5B, 3) == b"\xee\xff\xee"
    v.set(V.RIP, 0xFFFFFFFF_FFFFFFF0)
    assert v.get(V.RIP) == 0xFFFFFFFF_FFFFFFF0
    v.set(V.CS_ATTRIB, 0xA9B)
    assert m.memory.read(pa + 0x412, 2) == b"\x9b\x0a" and v.get(V.CS_ATTRIB) == 0xA9B
    v.set_segment(V.TR, 0x28, 0x1234_5678_9ABC, 0x67, defs.ATTR_TSS)
    assert v.segment(V.TR) == (0x28, 0x1234_5678_9ABC, 0x67, 0x8B)
    assert "rip" in v.dump() and "tr   sel 0x0028" in v.dump()


@pytest.mark.parametrize("desc,attr", [
    (0x00AF9B000000FFFF, 0xA9B),                      # 64-bit code, G, L
    (0x00CF9B000000FFFF, 0xC9B),                      # 32-bit code, G, D
    (0x00CF93000000FFFF, 0xC93),                      # flat data
    (0x00008B0000000067, 0x08B),                      # busy TSS
])
def test_segment_attributes(desc, attr):
    assert defs.seg_attr(desc) == attr
    limit = desc & 0xFFFF | ((desc >> 48) & 0xF) << 16
    assert guest_tables.descriptor(0, limit, attr) == desc      # base 0: the inverse
    assert defs.seg_attr(guest_tables.descriptor(0x12345678, 0xABCDE, attr)) == attr


def test_segment_attribute_fields():
    assert defs.seg_attr_fields(0xB, l=1, g=1) == defs.ATTR_CODE64
    assert defs.seg_attr_fields(0xB, db=1, g=1) == defs.ATTR_CODE32
    assert defs.seg_attr_fields(0x3, db=1, g=1) == defs.ATTR_DATA32
    assert defs.seg_attr_fields(0xB, s=0) == defs.ATTR_TSS
    assert defs.seg_attr_fields(0x3, dpl=3) == 0xF3


@pytest.mark.parametrize("code,name", [
    (0x72, "CPUID"), (0x7B, "IOIO"), (0x81, "VMMCALL"), (0x400, "NPF"), (0x7F, "SHUTDOWN"),
    (0x03, "CR3_READ"), (0x13, "CR3_WRITE"), (0x4E, "EXCP14"), (0x60, "INTR"),
    (0xFFFFFFFF, "INVALID"), ((1 << 64) - 1, "INVALID"), (-1, "INVALID"),
    ((1 << 64) - 2, "BUSY"), (0x3FF, "UNKNOWN_0x3ff"),
])
def test_exit_names(code, name):
    assert names.exit_name(code) == name


def test_normalize_exit_code():
    assert defs.normalize_exit_code(0xFFFFFFFF) == defs.VMEXIT_INVALID   # QEMU: 32 bits
    assert defs.normalize_exit_code((1 << 64) - 1) == defs.VMEXIT_INVALID
    assert defs.normalize_exit_code(0x400) == 0x400


def test_decode_ioio():
    # in al, dx on 0x3FD; out dx, eax on 0x600 with REP; outsb
    assert defs.decode_ioio(0x3FD << 16 | defs.IOIO_SZ8 | defs.IOIO_TYPE_IN | 1 << 7) == (0x3FD, 1, True, False, False)
    assert defs.decode_ioio(0x600 << 16 | defs.IOIO_SZ32 | defs.IOIO_REP) == (0x600, 4, False, False, True)
    assert defs.decode_ioio(0x80 << 16 | defs.IOIO_SZ16 | defs.IOIO_STR) == (0x80, 2, False, True, False)


@pytest.mark.parametrize("info1,access", [
    (0x100000004, "r"), (0x100000006, "w"), (0x100000007, "wp"), (0x100000014, "x"),
    (0x10000000F, "wpv"), (0x200000004, "rt"),
])
def test_decode_npf(info1, access):
    assert defs.decode_npf(info1) == access


def test_events():
    e = defs.event(13, defs.EVENT_TYPE_EXCEPTION, 0)
    assert e == 0x80000B0D
    assert defs.decode_event(e) == (13, 3, 0)
    assert defs.event(0x40, defs.EVENT_TYPE_INTR) == 0x80000040
    assert defs.decode_event(0x40) is None
    assert defs.decode_event(defs.event(14, 3, 0x1234)) == (14, 3, 0x1234)


@pytest.mark.parametrize("msr,pos", [
    (0x0, (0x000, 0)), (0x3, (0x000, 6)), (0x1FFF, (0x7FF, 6)), (0xC0000080, (0x820, 0)),
    (0xC0000100, (0x840, 0)), (0xC0010117, (0x1045, 6)), (0x2000, None), (0x4D500001, None),
])
def test_msrpm_positions(msr, pos):
    assert structs.msrpm_position(msr) == pos


def test_iopm_positions():
    assert structs.iopm_position(0x3F8) == (0x7F, 0)
    assert structs.iopm_position(0xFFFF) == (0x1FFF, 7)


def _good_vmcb(m):
    pa = m.allocator.alloc_frame()
    v = V.Vmcb(pa)
    v.set(V.EFER, defs.EFER_SVME | defs.EFER_LME | defs.EFER_LMA)
    v.set(V.CR0, 0x80010031)
    v.set(V.CR4, 0x20)
    v.set(V.CS_ATTRIB, defs.ATTR_CODE64)
    v.set(V.INTERCEPT_MISC2, defs.INTERCEPT_VMRUN)
    v.set(V.GUEST_ASID, 1)
    return v


@pytest.mark.parametrize("field,value,words", [
    ("EFER", defs.EFER_LME | defs.EFER_LMA, "EFER.SVME is zero"),
    ("CR0", 0xA0010031, "CR0.CD is zero and CR0.NW is set"),
    ("CR4", 0, "CR4.PAE zero"),
    ("CS_ATTRIB", defs.ATTR_CODE64 | 1 << 10, "CS.L and CS.D"),
    ("GUEST_ASID", 0, "ASID is zero"),
    ("INTERCEPT_MISC2", 0, "VMRUN intercept"),
    ("EVENTINJ", defs.event(2, defs.EVENT_TYPE_EXCEPTION), "EVENTINJ is not a legal event"),
    ("CR3", 1 << 60, "CR3 has MBZ"),
])
def test_vmrun_checks_name_the_failure(field, value, words):
    m = Machine()
    v = _good_vmcb(m)
    assert vmrun_failures(v) == []
    v.set(getattr(V, field), value)
    fails = vmrun_failures(v)
    assert len(fails) >= 1 and any(words in f for f in fails), fails
