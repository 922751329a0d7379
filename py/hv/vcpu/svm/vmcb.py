# The VMCB: field offsets and widths of the control area (APM2 Table B-1)
# and state save area (Table B-2), and the one width-aware accessor layer.
# A field is encoded as width << 16 | offset, so an access is always the
# field's own width. Runs on the bare-metal port (viper loads and stores on
# the identity-mapped frame) and on CPython (host tests, fake memory).
import sys
import micropython
from micropython import const

if sys.implementation.name != "micropython":
    from viper_host import ptr8, ptr16, ptr32, uint  # noqa: F401  CPython stand-ins

VMCB_SIZE = const(0x1000)
_OFF_MASK = const(0xFFFF)


def field(offset, width):
    return width << 16 | offset


def offset_of(f):
    return f & _OFF_MASK


def width_of(f):
    return f >> 16


# --- Control area (Table B-1) ---
INTERCEPT_CR = const(0x40000)               # 4 bytes at 0x000: reads 15:0, writes 31:16
INTERCEPT_DR = const(0x40004)
INTERCEPT_EXCEPTIONS = const(0x40008)
INTERCEPT_MISC1 = const(0x4000C)            # vector 3: INTR .. SHUTDOWN
INTERCEPT_MISC2 = const(0x40010)            # vector 4: VMRUN .. XSETBV
INTERCEPT_MISC3 = const(0x40014)            # vector 5: INVLPGB ..
PAUSE_FILTER_THRESHOLD = const(0x2003C)
PAUSE_FILTER_COUNT = const(0x2003E)
IOPM_BASE_PA = const(0x80040)
MSRPM_BASE_PA = const(0x80048)
TSC_OFFSET = const(0x80050)
GUEST_ASID = const(0x40058)
TLB_CONTROL = const(0x1005C)
VINTR = const(0x80060)                      # V_TPR, V_IRQ, V_INTR_PRIO, masking, vector
INTERRUPT_STATE = const(0x80068)            # interrupt shadow, guest IF
EXITCODE = const(0x80070)
EXITINFO1 = const(0x80078)
EXITINFO2 = const(0x80080)
EXITINTINFO = const(0x80088)
NP_CONTROL = const(0x80090)                 # NP_ENABLE, SEV, SEV-ES, GMET
AVIC_APIC_BAR = const(0x80098)
GHCB_PA = const(0x800A0)
EVENTINJ = const(0x800A8)
N_CR3 = const(0x800B0)
LBR_VIRT = const(0x800B8)                   # LBR virtualization, VMLOAD/VMSAVE virt
CLEAN_BITS = const(0x400C0)
NRIP = const(0x800C8)
INSN_BYTES_FETCHED = const(0x100D0)        # bits 3:0: how many follow (decode assists)
INSN_BYTES = const(0x0D1)                   # offset of the 15 guest instruction bytes

# --- State save area (Table B-2, at 0x400) ---
# Each segment: selector (16), attrib (16), limit (32), base (64).
ES = const(0x400)
CS = const(0x410)
SS = const(0x420)
DS = const(0x430)
FS = const(0x440)
GS = const(0x450)
GDTR = const(0x460)
LDTR = const(0x470)
IDTR = const(0x480)
TR = const(0x490)
SEGMENTS = (("es", ES), ("cs", CS), ("ss", SS), ("ds", DS), ("fs", FS), ("gs", GS),
            ("gdtr", GDTR), ("ldtr", LDTR), ("idtr", IDTR), ("tr", TR))


def seg_selector(seg):
    return field(seg, 2)


def seg_attrib(seg):
    return field(seg + 2, 2)


def seg_limit(seg):
    return field(seg + 4, 4)


def seg_base(seg):
    return field(seg + 8, 8)


CS_BASE = const(0x80418)
CS_ATTRIB = const(0x20412)
CPL = const(0x104CB)
EFER = const(0x804D0)
CR4 = const(0x80548)
CR3 = const(0x80550)
CR0 = const(0x80558)
DR7 = const(0x80560)
DR6 = const(0x80568)
RFLAGS = const(0x80570)
RIP = const(0x80578)
RSP = const(0x805D8)
RAX = const(0x805F8)
STAR = const(0x80600)
LSTAR = const(0x80608)
CSTAR = const(0x80610)
SFMASK = const(0x80618)
KERNEL_GS_BASE = const(0x80620)
SYSENTER_CS = const(0x80628)
SYSENTER_ESP = const(0x80630)
SYSENTER_EIP = const(0x80638)
CR2 = const(0x80640)
G_PAT = const(0x80668)
DBGCTL = const(0x80670)

# Fields shown by dump(), in table order.
DUMP_FIELDS = (
    ("intercept_cr", INTERCEPT_CR), ("intercept_exc", INTERCEPT_EXCEPTIONS),
    ("intercept_misc1", INTERCEPT_MISC1), ("intercept_misc2", INTERCEPT_MISC2),
    ("iopm", IOPM_BASE_PA), ("msrpm", MSRPM_BASE_PA), ("asid", GUEST_ASID),
    ("tlb_control", TLB_CONTROL), ("vintr", VINTR), ("int_state", INTERRUPT_STATE),
    ("exitcode", EXITCODE), ("exitinfo1", EXITINFO1), ("exitinfo2", EXITINFO2),
    ("exitintinfo", EXITINTINFO), ("np", NP_CONTROL), ("eventinj", EVENTINJ),
    ("n_cr3", N_CR3), ("nrip", NRIP), ("cpl", CPL), ("efer", EFER), ("cr0", CR0),
    ("cr3", CR3), ("cr4", CR4), ("dr7", DR7), ("rflags", RFLAGS), ("rip", RIP),
    ("rsp", RSP), ("rax", RAX), ("g_pat", G_PAT),
)


@micropython.viper
def read(pa: int, f: int) -> uint:
    """Field f of the VMCB at physical address pa."""
    a = pa + (f & 0xFFFF)
    w = f >> 16
    if w == 8:
        p = ptr32(a)
        return uint(p[0]) | (uint(p[1]) << 32)
    if w == 4:
        return uint(ptr32(a)[0])
    if w == 2:
        return uint(ptr16(a)[0])
    return uint(ptr8(a)[0])


@micropython.viper
def write(pa: int, f: int, value: uint):
    """Field f of the VMCB at pa := value (truncated to the field's width)."""
    a = pa + (f & 0xFFFF)
    w = f >> 16
    if w == 8:
        p = ptr32(a)
        p[0] = value
        p[1] = value >> 32
    elif w == 4:
        ptr32(a)[0] = value
    elif w == 2:
        ptr16(a)[0] = value
    else:
        ptr8(a)[0] = value


class Vmcb:
    """One VMCB frame, accessed only through read()/write() of fields.
    `dirty`: set()/set_bits()/clear_bits() happened since the owner last
    looked (the vCPU then re-checks the state before VMRUN); put() does not
    mark it."""

    def __init__(self, pa):
        self.pa = pa
        self.dirty = True

    def get(self, f):
        return read(self.pa, f)

    def set(self, f, value):
        write(self.pa, f, value)
        self.dirty = True

    def put(self, f, value):
        """set() for the vCPU's own writes of values it knows VMRUN accepts
        (RIP, RAX, events, the window): not marked dirty."""
        write(self.pa, f, value)

    def set_bits(self, f, bits):
        self.set(f, read(self.pa, f) | bits)

    def clear_bits(self, f, bits):
        self.set(f, read(self.pa, f) & ~bits)

    def set_segment(self, seg, selector, base, limit, attrib):
        self.set(seg_selector(seg), selector)
        self.set(seg_attrib(seg), attrib)
        self.set(seg_limit(seg), limit)
        self.set(seg_base(seg), base)

    def segment(self, seg):
        """(selector, base, limit, attrib)"""
        return (self.get(seg_selector(seg)), self.get(seg_base(seg)),
                self.get(seg_limit(seg)), self.get(seg_attrib(seg)))

    def dump(self):
        lines = ["VMCB at %#x:" % self.pa]
        for name, f in DUMP_FIELDS:
            lines.append("  %-16s %#x" % (name, self.get(f)))
        for name, seg in SEGMENTS:
            sel, base, limit, attr = self.segment(seg)
            lines.append("  %-4s sel %#06x base %#x limit %#x attr %#05x" % (name, sel, base, limit, attr))
        return "\n".join(lines)
