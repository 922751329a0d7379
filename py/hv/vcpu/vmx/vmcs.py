# The VMCS region (SDM 3C 25.2) and the one width-checked accessor layer
# over VMREAD/VMWRITE: each field by its own width (encoding bits 14:13,
# 25.11.2); a wrong-width access or a value wider than the field raises.
# Runs on the bare-metal port (vmx natives) and on CPython (a fake).
from micropython import const
from hv.vcpu.vmx import fields as F

WIDTH_16 = const(0)
WIDTH_64 = const(1)
WIDTH_32 = const(2)
WIDTH_NATURAL = const(3)
_WIDTH_SHIFT = const(13)
_HIGH_ACCESS = const(1)
_MAX = (0xFFFF, 0xFFFFFFFFFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF)
_BITS = ("16", "64", "32", "natural")


class VmcsWidthError(TypeError):
    pass


def width_of(field):
    """Width group of an encoding: WIDTH_16, _64, _32 or _NATURAL."""
    return (field >> _WIDTH_SHIFT) & 3


class Vmcs:
    """One VMCS region of `size` bytes at pa, its first 4 bytes the revision
    identifier of IA32_VMX_BASIC (SDM 3C 25.2). load() makes it current;
    the accessors act on the current VMCS, which the vCPU keeps this one
    whenever it calls them."""

    def __init__(self, pa, revision, native, mem):
        self.pa = pa
        self._native = native
        self._vmread = native.vmread
        self._vmwrite = native.vmwrite
        m = mem(pa, 8)
        m[0:4] = (revision & 0x7FFFFFFF).to_bytes(4, "little")   # bit 31 = 0: ordinary VMCS
        m[4:8] = bytes(4)                        # VMX-abort indicator
        native.vmclear(pa)                       # launch state "clear" (SDM 3C 25.11.3)
        self.launched = False

    def load(self):
        self._native.vmptrld(self.pa)

    def clear(self):
        """VMCLEAR: flush to memory, not current, launch state clear."""
        self._native.vmclear(self.pa)
        self.launched = False

    # -- width-checked access (Linux KVM's vmcs_read16/32/64/l) -------------
    def _check(self, field, width):
        if (field >> _WIDTH_SHIFT) & 3 != width or field & _HIGH_ACCESS and width != WIDTH_64:
            raise VmcsWidthError("VMCS field %#06x is %s-bit, not %s-bit"
                                 % (field, _BITS[width_of(field)], _BITS[width]))

    def read16(self, field):
        self._check(field, WIDTH_16)
        return self._vmread(field)

    def read32(self, field):
        self._check(field, WIDTH_32)
        return self._vmread(field)

    def read64(self, field):
        self._check(field, WIDTH_64)
        return self._vmread(field)

    def readn(self, field):
        self._check(field, WIDTH_NATURAL)
        return self._vmread(field)

    def _write(self, field, width, value):
        self._check(field, width)
        if not 0 <= value <= _MAX[width]:
            raise VmcsWidthError("value %#x does not fit %s-bit VMCS field %#06x"
                                 % (value, _BITS[width], field))
        self._vmwrite(field, value)

    def write16(self, field, value):
        self._write(field, WIDTH_16, value)

    def write32(self, field, value):
        self._write(field, WIDTH_32, value)

    def write64(self, field, value):
        self._write(field, WIDTH_64, value)

    def writen(self, field, value):
        self._write(field, WIDTH_NATURAL, value)

    def set_bits32(self, field, bits):
        self.write32(field, self.read32(field) | bits)

    def clear_bits32(self, field, bits):
        self.write32(field, self.read32(field) & ~bits)

    # -- guest segments ------------------------------------------------------
    def set_segment(self, seg, selector, base, limit, ar):
        """seg: an entry of fields.SEGMENTS; ar: access rights (Table 25-2)."""
        _, sel_f, base_f, limit_f, ar_f = seg
        self.write16(sel_f, selector)
        self.writen(base_f, base)
        self.write32(limit_f, limit)
        self.write32(ar_f, ar)

    def segment(self, seg):
        """(selector, base, limit, access rights)"""
        _, sel_f, base_f, limit_f, ar_f = seg
        return self.read16(sel_f), self.readn(base_f), self.read32(limit_f), self.read32(ar_f)

    def dump(self):
        """The state an unexpected exit is reported with."""
        lines = ["VMCS at %#x:" % self.pa]
        for name, f in DUMP_FIELDS:
            try:
                v = self._vmread(f)
            except Exception as e:              # a field this CPU lacks
                v = e
            lines.append("  %-18s %s" % (name, hex(v) if isinstance(v, int) else v))
        for seg in F.SEGMENTS:
            sel, base, limit, ar = self.segment(seg)
            lines.append("  %-4s sel %#06x base %#x limit %#x ar %#x"
                         % (seg[0], sel, base, limit, ar))
        return "\n".join(lines)


DUMP_FIELDS = (
    ("exit_reason", F.VM_EXIT_REASON), ("qualification", F.EXIT_QUALIFICATION),
    ("intr_info", F.VM_EXIT_INTR_INFO), ("idt_vectoring", F.IDT_VECTORING_INFO),
    ("insn_len", F.VM_EXIT_INSTRUCTION_LEN), ("gpa", F.GUEST_PHYSICAL_ADDRESS),
    ("pin", F.PIN_BASED_VM_EXEC_CONTROL), ("cpu", F.CPU_BASED_VM_EXEC_CONTROL),
    ("secondary", F.SECONDARY_VM_EXEC_CONTROL), ("exit_ctls", F.VM_EXIT_CONTROLS),
    ("entry_ctls", F.VM_ENTRY_CONTROLS), ("entry_intr", F.VM_ENTRY_INTR_INFO),
    ("exceptions", F.EXCEPTION_BITMAP), ("eptp", F.EPT_POINTER), ("vpid", F.VIRTUAL_PROCESSOR_ID),
    ("cr0", F.GUEST_CR0), ("cr0_shadow", F.CR0_READ_SHADOW), ("cr3", F.GUEST_CR3),
    ("cr4", F.GUEST_CR4), ("cr4_shadow", F.CR4_READ_SHADOW), ("efer", F.GUEST_IA32_EFER),
    ("rip", F.GUEST_RIP), ("rsp", F.GUEST_RSP), ("rflags", F.GUEST_RFLAGS),
    ("interruptibility", F.GUEST_INTERRUPTIBILITY_INFO), ("activity", F.GUEST_ACTIVITY_STATE),
    ("gdtr", F.GUEST_GDTR_BASE), ("gdtr_limit", F.GUEST_GDTR_LIMIT),
    ("idtr", F.GUEST_IDTR_BASE), ("idtr_limit", F.GUEST_IDTR_LIMIT),
    ("link", F.VMCS_LINK_POINTER),
)
