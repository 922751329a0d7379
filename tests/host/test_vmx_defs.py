# Host tests for the VMX hardware facts: exit-qualification decoders fed the
# qualifications Bochs 2.7 (corei7_skylake_x) recorded for the test guests,
# interruption information, exit-reason and VM-instruction-error names,
# segment access rights and the EPTP.
import pytest

from hv.vcpu.vmx import defs, names

# (qualification, (cr, access type, gpr, lmsw from memory, lmsw source)), recorded.
CR_ACCESS = [
    (0x0, (0, defs.CR_ACCESS_MOV_TO, 0, False, 0)),               # mov cr0, rax
    (0xA08, (8, defs.CR_ACCESS_MOV_TO, 10, False, 0)),            # mov cr8, r10
    (0xB18, (8, defs.CR_ACCESS_MOV_FROM, 11, False, 0)),          # mov r11, cr8
    (0x20, (0, defs.CR_ACCESS_CLTS, 0, False, 0)),                # clts
    (0xFFF90030, (0, defs.CR_ACCESS_LMSW, 0, False, 0xFFF9)),     # lmsw ax (ax = 0xFFF9)
    (0xB0070, (0, defs.CR_ACCESS_LMSW, 0, True, 0x000B)),         # lmsw [mem] (= 0x000B)
]

# (qualification, (port, width, in, string, rep, immediate)), recorded.
IO = [
    (0x12340001, (0x1234, 2, False, False, False, False)),        # out dx, ax
    (0x3FD0008, (0x3FD, 1, True, False, False, False)),           # in al, dx (COM1 LSR)
    (0x3F80000, (0x3F8, 1, False, False, False, False)),          # out dx, al (COM1)
    (0x600000B, (0x600, 4, True, False, False, False)),           # in eax, dx
    (0x6000008, (0x600, 1, True, False, False, False)),           # in al, dx
    (0x00600038, (0x60, 1, True, True, True, False)),             # rep insb (SDM Table 28-5)
    (0x00800041, (0x80, 2, False, False, False, True)),           # out 0x80, ax
]

# (qualification, access string), recorded.
EPT_VIOLATION = [
    (0x182, "w"),            # write to an absent page (guest RAM not yet backed)
    (0x181, "r"),            # read of the MMIO hole
    (0x18A, "wp"),           # write to a page mapped read-only
    (0x184, "x"),            # fetch from an absent page (Table 28-7)
    (0x081, "rt"),           # read by the guest's own page walk (bit 7 set, bit 8 clear)
]


@pytest.mark.parametrize("q,want", CR_ACCESS)
def test_decode_cr_access(q, want):
    assert defs.decode_cr_access(q) == want


def test_lmsw_source_is_all_16_bits():
    assert defs.decode_cr_access(0xABCD0030)[4] == 0xABCD


@pytest.mark.parametrize("q,want", IO)
def test_decode_io(q, want):
    assert defs.decode_io(q) == want


@pytest.mark.parametrize("q,want", EPT_VIOLATION)
def test_decode_ept_violation(q, want):
    assert defs.decode_ept_violation(q) == want


def test_intr_info_round_trip():
    v = defs.intr_info(14, defs.INTR_TYPE_HW_EXCEPTION, True)
    assert v == 0x80000B0E
    assert defs.decode_intr_info(v) == (14, defs.INTR_TYPE_HW_EXCEPTION, True)
    assert defs.decode_intr_info(0x24) is None
    assert defs.intr_info(0x40, defs.INTR_TYPE_EXTERNAL) == 0x80000040


def test_exit_names():
    assert names.exit_name(defs.EXIT_CPUID) == "CPUID"
    assert names.exit_name(48) == "EPT_VIOLATION"
    assert names.exit_name(0x80000021) == "FAILED_ENTRY:INVALID_GUEST_STATE"
    assert names.exit_name(200) == "UNKNOWN_200"
    for name in ("EXIT_CPUID", "EXIT_HLT", "EXIT_VMCALL", "EXIT_CR_ACCESS", "EXIT_IO_INSTRUCTION",
                 "EXIT_RDMSR", "EXIT_WRMSR", "EXIT_EPT_VIOLATION", "EXIT_EPT_MISCONFIG",
                 "EXIT_PREEMPTION_TIMER", "EXIT_XSETBV", "EXIT_TRIPLE_FAULT"):
        assert names.exit_name(getattr(defs, name)) == name[len("EXIT_"):]


def test_vm_instruction_errors_are_named():
    assert names.vm_error_name(7) == "VM entry with invalid control field(s)"
    assert names.vm_error_name(8) == "VM entry with invalid host-state field(s)"
    assert names.vm_error_name(4) == "VMLAUNCH with non-clear VMCS"
    assert names.vm_error_name(defs.VMFAIL_INVALID).startswith("VMfailInvalid")
    assert names.vm_error_name(99) == "unknown VM-instruction error"


def test_access_rights_of_descriptors():
    flat64 = 0x00AF9B000000FFFF         # 64-bit code, as boot/entry.asm's GDT has it
    assert defs.ar_from_descriptor(flat64) == 0xA09B == defs.AR_CODE64
    assert defs.ar_from_descriptor(0x00CF93000000FFFF) == defs.AR_DATA32


def test_eptp():
    assert defs.eptp(0x5000, defs.MEMTYPE_WB, False) == 0x501E      # FACTS: EPTP | 0x1E
    assert defs.eptp(0x5000, defs.MEMTYPE_WB, True) == 0x505E
