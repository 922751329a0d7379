# SVM hardware facts (AMD APM Vol. 2 chapter 15, Appendices B and C):
# CPUID/MSR bits, intercept vectors, exit codes, EVENTINJ, TLB_CONTROL and
# pure decoders. Constants and pure functions only; policy lives in vcpu.py.
# Runs on the bare-metal port and on CPython (host tests).
from micropython import const

# --- CPUID and MSRs (APM2 15.4, 15.30; APM3 CPUID Fn8000_000A) ---
CPUID_80000001_ECX_SVM = const(1 << 2)
CPUID_8000000A_EDX_NP = const(1 << 0)
CPUID_8000000A_EDX_NRIPS = const(1 << 3)
CPUID_8000000A_EDX_FLUSH_BY_ASID = const(1 << 6)
CPUID_8000000A_EDX_DECODE_ASSISTS = const(1 << 7)   # instruction bytes on #NPF (APM2 15.33)
VM_CR_LOCK = const(1 << 3)                  # APM2 15.30.1
VM_CR_SVMDIS = const(1 << 4)
# EFER's bits (APM2 3.1.7) live in hv.x86.bits; SVME is SVM's, named here too.
from hv.x86.bits import EFER_SCE, EFER_LME, EFER_LMA, EFER_NXE, EFER_SVME  # noqa: E402,F401

# --- Intercept vectors (APM2 Table B-1, VMCB offsets 0x00C and 0x010) ---
# Vector 3 (offset 0x00C)
INTERCEPT_INTR = const(1 << 0)
INTERCEPT_NMI = const(1 << 1)
INTERCEPT_SMI = const(1 << 2)
INTERCEPT_INIT = const(1 << 3)
INTERCEPT_VINTR = const(1 << 4)
INTERCEPT_CPUID = const(1 << 18)
INTERCEPT_INVD = const(1 << 22)
INTERCEPT_IRET = const(1 << 20)
INTERCEPT_HLT = const(1 << 24)
INTERCEPT_INVLPGA = const(1 << 26)
INTERCEPT_IOIO_PROT = const(1 << 27)
INTERCEPT_MSR_PROT = const(1 << 28)
INTERCEPT_SHUTDOWN = const(1 << 31)
# Vector 4 (offset 0x010)
INTERCEPT_VMRUN = const(1 << 0)
INTERCEPT_VMMCALL = const(1 << 1)
INTERCEPT_VMLOAD = const(1 << 2)
INTERCEPT_VMSAVE = const(1 << 3)
INTERCEPT_STGI = const(1 << 4)
INTERCEPT_CLGI = const(1 << 5)
INTERCEPT_SKINIT = const(1 << 6)
INTERCEPT_MONITOR = const(1 << 10)
INTERCEPT_MWAIT = const(1 << 11)
INTERCEPT_XSETBV = const(1 << 13)

# --- Virtual interrupt control, VMCB offset 0x060 (APM2 Table B-1, 15.21) ---
INTERCEPT_CR8_WRITE = const(1 << 24)        # VMCB 0x000: CR writes in bits 31:16 (15.9)
CR_INFO_MOV = const(1 << 63)                # EXITINFO1 of a MOV CR with decode assists (15.33.1)
V_TPR_MASK = const(0xF)                     # bits 3:0, the guest's CR8 (15.21.1)
V_IRQ = const(1 << 8)
V_INTR_PRIO_SHIFT = const(16)
V_IGN_TPR = const(1 << 20)
V_INTR_MASKING = const(1 << 24)
V_INTR_VECTOR_SHIFT = const(32)
# Offset 0x068: guest interrupt state
INTERRUPT_SHADOW = const(1 << 0)
# Offset 0x090: nested paging enable (15.25.3)
NP_ENABLE = const(1 << 0)

# --- TLB_CONTROL, VMCB offset 0x05C (APM2 15.16.1, Table B-1) ---
TLB_CONTROL_NOTHING = const(0x00)
TLB_CONTROL_FLUSH_ALL = const(0x01)         # every ASID
TLB_CONTROL_FLUSH_ASID = const(0x03)        # this guest's ASID
TLB_CONTROL_FLUSH_ASID_LOCAL = const(0x07)  # this ASID, non-global only

# --- EVENTINJ and EXITINTINFO (APM2 15.20, Figure 15-7) ---
EVENT_VECTOR_MASK = const(0xFF)
EVENT_TYPE_SHIFT = const(8)
EVENT_TYPE_INTR = const(0)
EVENT_TYPE_NMI = const(2)
EVENT_TYPE_EXCEPTION = const(3)
EVENT_TYPE_SOFT_INT = const(4)
EVENT_ERROR_VALID = const(1 << 11)
EVENT_VALID = const(1 << 31)


def event(vector, kind, error_code=None):
    """EVENTINJ value for vector of type kind (EVENT_TYPE_*), APM2 15.20."""
    v = (vector & EVENT_VECTOR_MASK) | (kind << EVENT_TYPE_SHIFT) | EVENT_VALID
    if error_code is not None:
        v |= EVENT_ERROR_VALID | (error_code & 0xFFFFFFFF) << 32
    return v


def decode_event(v):
    """(vector, type, error_code or None) of a valid EVENTINJ/EXITINTINFO,
    or None when its V bit is clear."""
    if not v & EVENT_VALID:
        return None
    err = (v >> 32) & 0xFFFFFFFF if v & EVENT_ERROR_VALID else None
    return v & EVENT_VECTOR_MASK, (v >> EVENT_TYPE_SHIFT) & 7, err


# --- Exit codes (APM2 Appendix C, Table C-1) ---
VMEXIT_CR0_READ = const(0x00)               # 0x00-0x0F CRn read
VMEXIT_CR0_WRITE = const(0x10)              # 0x10-0x1F CRn write
VMEXIT_CR8_WRITE = const(0x18)
VMEXIT_DR0_READ = const(0x20)
VMEXIT_DR0_WRITE = const(0x30)
VMEXIT_EXCP_BASE = const(0x40)              # 0x40-0x5F exception vector n
VMEXIT_INTR = const(0x60)
VMEXIT_NMI = const(0x61)
VMEXIT_SMI = const(0x62)
VMEXIT_INIT = const(0x63)
VMEXIT_VINTR = const(0x64)
VMEXIT_RDTSC = const(0x6E)
VMEXIT_CPUID = const(0x72)
VMEXIT_IRET = const(0x74)
VMEXIT_INVD = const(0x76)
VMEXIT_PAUSE = const(0x77)
VMEXIT_HLT = const(0x78)
VMEXIT_INVLPGA = const(0x7A)
VMEXIT_IOIO = const(0x7B)
VMEXIT_MSR = const(0x7C)
VMEXIT_SHUTDOWN = const(0x7F)
VMEXIT_VMRUN = const(0x80)
VMEXIT_VMMCALL = const(0x81)
VMEXIT_VMLOAD = const(0x82)
VMEXIT_VMSAVE = const(0x83)
VMEXIT_STGI = const(0x84)
VMEXIT_CLGI = const(0x85)
VMEXIT_SKINIT = const(0x86)
VMEXIT_RDTSCP = const(0x87)
VMEXIT_MONITOR = const(0x8A)
VMEXIT_MWAIT = const(0x8B)
VMEXIT_XSETBV = const(0x8D)
VMEXIT_NPF = const(0x400)
VMEXIT_INVALID = const(-1)
VMEXIT_BUSY = const(-2)
# Their names: hv.vcpu.svm.names.


def normalize_exit_code(code):
    """EXITCODE as read (64 bits; QEMU TCG writes only the low 32) -> the
    signed code of Table C-1: VMEXIT_INVALID is -1 from either."""
    if code > 0x7FFFFFFF:
        code = (code & 0xFFFFFFFF) - (1 << 32)
    return code


# --- IOIO EXITINFO1 (APM2 15.10.2, Figure 15-2) ---
IOIO_TYPE_IN = const(1 << 0)
IOIO_STR = const(1 << 2)
IOIO_REP = const(1 << 3)
IOIO_SZ8 = const(1 << 4)
IOIO_SZ16 = const(1 << 5)
IOIO_SZ32 = const(1 << 6)
IOIO_A16 = const(1 << 7)        # address size of a string instruction
IOIO_A32 = const(1 << 8)
IOIO_A64 = const(1 << 9)
IOIO_SEG_SHIFT = const(10)      # bits 12:10: its segment, ES=0 ... GS=5
IOIO_PORT_SHIFT = const(16)


def decode_ioio(info1):
    """(port, width in bytes, is_in, is_string, is_rep) from EXITINFO1."""
    width = 1 if info1 & IOIO_SZ8 else 2 if info1 & IOIO_SZ16 else 4 if info1 & IOIO_SZ32 else 0
    return ((info1 >> IOIO_PORT_SHIFT) & 0xFFFF, width, bool(info1 & IOIO_TYPE_IN),
            bool(info1 & IOIO_STR), bool(info1 & IOIO_REP))


def ioio_addr_bits(info1):
    """Address size (16/32/64) of a string IOIO, or 0 where the CPU leaves
    A16/A32/A64 clear (QEMU TCG does): decode the instruction then."""
    return 16 if info1 & IOIO_A16 else 32 if info1 & IOIO_A32 else 64 if info1 & IOIO_A64 else 0


def ioio_seg(info1):
    """Effective segment of an OUTS (ES=0 ... GS=5). Filled only by CPUs
    with decode assists (CPUID 8000_000A EDX[7]); the APM does not say so,
    bhyve's SVM back end observed it: decode the instruction elsewhere."""
    return (info1 >> IOIO_SEG_SHIFT) & 7


# --- #NPF EXITINFO1 error code (APM2 15.25.6; page-fault error code 8.4.2) ---
NPF_P = const(1 << 0)           # the nested entry was present (protection)
NPF_RW = const(1 << 1)          # a write
NPF_US = const(1 << 2)          # user access (always 1 for nested walks)
NPF_RSV = const(1 << 3)         # reserved bit set in a nested entry
NPF_ID = const(1 << 4)          # instruction fetch
NPF_FINAL = const(1 << 32)      # while translating the final guest physical address
NPF_TABLE = const(1 << 33)      # while translating a guest page-table access


def decode_npf(info1):
    """Access flags of a #NPF: a string of 'r'/'w'/'x' for the access plus
    'p' (protection, not absence), 'v' (reserved bit), 't' (guest table walk)."""
    s = "x" if info1 & NPF_ID else "w" if info1 & NPF_RW else "r"
    if info1 & NPF_P:
        s += "p"
    if info1 & NPF_RSV:
        s += "v"
    if info1 & NPF_TABLE:
        s += "t"
    return s


# --- Segment attributes (APM2 Table B-2 note: descriptor bits 47:40, 55:52) ---
def seg_attr(desc):
    """VMCB attribute word of a 64-bit GDT descriptor."""
    return ((desc >> 40) & 0xFF) | ((desc >> 52) & 0xF) << 8


def seg_attr_fields(type_, s=1, dpl=0, p=1, avl=0, l=0, db=0, g=0):
    """VMCB attribute word from descriptor fields (type 4 bits, S, DPL, P,
    AVL, L, D/B, G), in the packed order of Table B-2."""
    return ((type_ & 0xF) | s << 4 | (dpl & 3) << 5 | p << 7
            | avl << 8 | l << 9 | db << 10 | g << 11)


# Attribute words the setup code uses (type 0xB code exec/read accessed,
# 0x3 data read/write accessed, 0xB busy 64-bit/32-bit TSS, 0x2 LDT).
ATTR_CODE16 = const(0x009B)
ATTR_DATA16 = const(0x0093)
ATTR_CODE32 = const(0x0C9B)
ATTR_DATA32 = const(0x0C93)
ATTR_CODE64 = const(0x0A9B)
ATTR_TSS = const(0x008B)
ATTR_LDT = const(0x0082)
