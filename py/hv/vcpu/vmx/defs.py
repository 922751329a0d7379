# VMX hardware facts (Intel SDM Vol. 3C, 2023+ numbering: 24-31, App. A, C):
# CPUID/MSR bits, controls, exit reasons, VM-instruction errors and pure
# exit-qualification decoders; VMCS encodings are in hv.vcpu.vmx.fields. No
# policy (that is vcpu.py). Runs on the port and on CPython.
from micropython import const

# --- Discovery and enabling (SDM 3C 24.6-24.8; SDM 4 Table 2-2) ---
CPUID_1_ECX_VMX = const(1 << 5)
FEATURE_CONTROL_LOCK = const(1 << 0)
FEATURE_CONTROL_VMX_IN_SMX = const(1 << 1)
FEATURE_CONTROL_VMX_OUTSIDE_SMX = const(1 << 2)
from hv.x86.bits import CR4_VMXE  # noqa: E402,F401  (SDM 3C 24.7; one home for CR4's bits)

# --- IA32_VMX_BASIC (SDM App. A.1) ---
BASIC_REVISION_MASK = const(0x7FFFFFFF)
BASIC_VMCS_SIZE_SHIFT = const(32)            # bits 44:32
BASIC_MEMTYPE_SHIFT = const(50)              # bits 53:50, 6 = write-back
BASIC_INS_OUTS_INFO = 1 << 54                # INS/OUTS exits fill the instruction information
BASIC_TRUE_CTLS = 1 << 55                    # IA32_VMX_TRUE_*_CTLS exist
MEMTYPE_UC = const(0)
MEMTYPE_WB = const(6)

# --- IA32_VMX_MISC (SDM App. A.6) ---
MISC_PREEMPTION_TIMER_RATE_MASK = const(0x1F)   # timer ticks at TSC >> rate

# --- Pin-based controls (SDM 3C 25.6.1, Table 25-5) ---
PIN_EXTERNAL_INTERRUPT_EXITING = const(1 << 0)
PIN_NMI_EXITING = const(1 << 3)
PIN_VIRTUAL_NMIS = const(1 << 5)
PIN_PREEMPTION_TIMER = const(1 << 6)
PIN_POSTED_INTERRUPTS = const(1 << 7)

# --- Primary processor-based controls (SDM 3C 25.6.2, Table 25-6) ---
CPU_INTERRUPT_WINDOW_EXITING = const(1 << 2)
CPU_TSC_OFFSETTING = const(1 << 3)
CPU_HLT_EXITING = const(1 << 7)
CPU_INVLPG_EXITING = const(1 << 9)
CPU_MWAIT_EXITING = const(1 << 10)
CPU_RDPMC_EXITING = const(1 << 11)
CPU_RDTSC_EXITING = const(1 << 12)
CPU_CR3_LOAD_EXITING = const(1 << 15)
CPU_CR3_STORE_EXITING = const(1 << 16)
CPU_CR8_LOAD_EXITING = const(1 << 19)
CPU_CR8_STORE_EXITING = const(1 << 20)
CPU_USE_TPR_SHADOW = const(1 << 21)
CPU_NMI_WINDOW_EXITING = const(1 << 22)
CPU_MOV_DR_EXITING = const(1 << 23)
CPU_UNCONDITIONAL_IO_EXITING = const(1 << 24)
CPU_USE_IO_BITMAPS = const(1 << 25)
CPU_MONITOR_TRAP_FLAG = const(1 << 27)
CPU_USE_MSR_BITMAPS = const(1 << 28)
CPU_MONITOR_EXITING = const(1 << 29)
CPU_PAUSE_EXITING = const(1 << 30)
CPU_ACTIVATE_SECONDARY = const(1 << 31)

# --- Secondary processor-based controls (SDM 3C 25.6.2, Table 25-7) ---
SEC_VIRTUALIZE_APIC_ACCESSES = const(1 << 0)
SEC_ENABLE_EPT = const(1 << 1)
SEC_DESCRIPTOR_TABLE_EXITING = const(1 << 2)
SEC_ENABLE_RDTSCP = const(1 << 3)
SEC_VIRTUALIZE_X2APIC = const(1 << 4)
SEC_ENABLE_VPID = const(1 << 5)
SEC_WBINVD_EXITING = const(1 << 6)
SEC_UNRESTRICTED_GUEST = const(1 << 7)
SEC_PAUSE_LOOP_EXITING = const(1 << 10)
SEC_RDRAND_EXITING = const(1 << 11)
SEC_ENABLE_INVPCID = const(1 << 12)
SEC_ENABLE_VMFUNC = const(1 << 13)
SEC_VMCS_SHADOWING = const(1 << 14)
SEC_RDSEED_EXITING = const(1 << 16)
SEC_ENABLE_PML = const(1 << 17)
SEC_EPT_VE = const(1 << 18)
SEC_ENABLE_XSAVES = const(1 << 20)

# --- VM-exit controls (SDM 3C 25.7.1, Table 25-13) ---
EXIT_SAVE_DEBUG_CONTROLS = const(1 << 2)
EXIT_HOST_ADDR_SPACE_SIZE = const(1 << 9)
EXIT_LOAD_PERF_GLOBAL_CTRL = const(1 << 12)
EXIT_ACK_INTERRUPT_ON_EXIT = const(1 << 15)
EXIT_SAVE_IA32_PAT = const(1 << 18)
EXIT_LOAD_IA32_PAT = const(1 << 19)
EXIT_SAVE_IA32_EFER = const(1 << 20)
EXIT_LOAD_IA32_EFER = const(1 << 21)
EXIT_SAVE_PREEMPTION_TIMER = const(1 << 22)

# --- VM-entry controls (SDM 3C 25.8.1, Table 25-15) ---
ENTRY_LOAD_DEBUG_CONTROLS = const(1 << 2)
ENTRY_IA32E_MODE_GUEST = const(1 << 9)
ENTRY_SMM = const(1 << 10)
ENTRY_LOAD_PERF_GLOBAL_CTRL = const(1 << 13)
ENTRY_LOAD_IA32_PAT = const(1 << 14)
ENTRY_LOAD_IA32_EFER = const(1 << 15)

# --- IA32_VMX_EPT_VPID_CAP (SDM App. A.10) ---
EPT_CAP_EXECUTE_ONLY = const(1 << 0)
EPT_CAP_WALK_LENGTH_4 = const(1 << 6)
EPT_CAP_UC = const(1 << 8)
EPT_CAP_WB = const(1 << 14)
EPT_CAP_2M_PAGES = const(1 << 16)
EPT_CAP_1G_PAGES = const(1 << 17)
EPT_CAP_INVEPT = const(1 << 20)
EPT_CAP_ACCESSED_DIRTY = const(1 << 21)
EPT_CAP_INVEPT_SINGLE = const(1 << 25)
EPT_CAP_INVEPT_ALL = const(1 << 26)
VPID_CAP_INVVPID = 1 << 32
VPID_CAP_INVVPID_ADDRESS = 1 << 40
VPID_CAP_INVVPID_SINGLE = 1 << 41
VPID_CAP_INVVPID_ALL = 1 << 42
VPID_CAP_INVVPID_SINGLE_KEEP_GLOBALS = 1 << 43

# INVEPT and INVVPID types (SDM 3C 29.4.3.1, 31.3 INVEPT/INVVPID)
INVEPT_SINGLE_CONTEXT = const(1)
INVEPT_ALL_CONTEXT = const(2)
INVVPID_ADDRESS = const(0)
INVVPID_SINGLE_CONTEXT = const(1)
INVVPID_ALL_CONTEXT = const(2)

# --- EPTP (SDM 3C 25.6.11, Table 25-9) ---
EPTP_WALK_LENGTH_4 = const(3 << 3)          # page-walk length - 1
EPTP_ACCESSED_DIRTY = const(1 << 6)


def eptp(root, memtype, accessed_dirty):
    """EPTP of a 4-level EPT at root: memory type of the paging structures,
    A/D flags only where IA32_VMX_EPT_VPID_CAP[21] allows them."""
    return root | memtype | EPTP_WALK_LENGTH_4 | (EPTP_ACCESSED_DIRTY if accessed_dirty else 0)


# --- Interruption information (SDM 3C 25.8.3 Table 25-17, 25.9.2 Table
# 25-19, 25.9.3 Table 25-20: entry, exit and IDT-vectoring share it) ---
INTR_VECTOR_MASK = const(0xFF)
INTR_TYPE_SHIFT = const(8)
INTR_TYPE_EXTERNAL = const(0)
INTR_TYPE_NMI = const(2)
INTR_TYPE_HW_EXCEPTION = const(3)
INTR_TYPE_SOFT_INTR = const(4)
INTR_TYPE_PRIV_SOFT_EXCEPTION = const(5)
INTR_TYPE_SOFT_EXCEPTION = const(6)
INTR_ERROR_CODE_VALID = const(1 << 11)
INTR_NMI_UNBLOCKING = const(1 << 12)
INTR_VALID = const(1 << 31)


def intr_info(vector, kind, error_code=False):
    """VM-entry interruption-information value (Table 25-17)."""
    return (vector & INTR_VECTOR_MASK) | kind << INTR_TYPE_SHIFT | INTR_VALID | (
        INTR_ERROR_CODE_VALID if error_code else 0)


def decode_intr_info(v):
    """(vector, type, has error code) of a valid interruption-information
    field, or None when bit 31 is clear."""
    if not v & INTR_VALID:
        return None
    return v & INTR_VECTOR_MASK, (v >> INTR_TYPE_SHIFT) & 7, bool(v & INTR_ERROR_CODE_VALID)


# --- Guest non-register state (SDM 3C 25.4.2, Table 25-3) ---
BLOCKING_BY_STI = const(1 << 0)
BLOCKING_BY_MOV_SS = const(1 << 1)
BLOCKING_BY_SMI = const(1 << 2)
BLOCKING_BY_NMI = const(1 << 3)
ACTIVITY_ACTIVE = const(0)
ACTIVITY_HLT = const(1)

# --- Segment access rights (SDM 3C 25.4.1, Table 25-2) ---
AR_TYPE_MASK = const(0xF)
AR_S = const(1 << 4)
AR_DPL_SHIFT = const(5)
AR_P = const(1 << 7)
AR_AVL = const(1 << 12)
AR_L = const(1 << 13)
AR_DB = const(1 << 14)
AR_G = const(1 << 15)
AR_UNUSABLE = const(1 << 16)
AR_CODE16 = const(0x009B)       # execute/read, accessed, present
AR_DATA16 = const(0x0093)       # read/write, accessed, present
AR_CODE32 = const(0xC09B)
AR_DATA32 = const(0xC093)
AR_CODE64 = const(0xA09B)       # L = 1, D = 0
AR_TSS_BUSY = const(0x008B)     # 32/64-bit busy TSS
AR_LDT = const(0x0082)


def ar_from_descriptor(desc):
    """Access-rights field of a GDT descriptor: bits 47:40 and 55:52."""
    return ((desc >> 40) & 0xFF) | ((desc >> 52) & 0xF) << 12


# --- Exit qualification for control-register accesses (SDM 3C 28.2.1,
# Table 28-3) ---
CR_ACCESS_MOV_TO = const(0)
CR_ACCESS_MOV_FROM = const(1)
CR_ACCESS_CLTS = const(2)
CR_ACCESS_LMSW = const(3)


def decode_cr_access(q):
    """(cr, access type, gpr, lmsw operand is memory, lmsw source) from the
    qualification: the LMSW source is all 16 bits of bits 31:16."""
    return q & 0xF, (q >> 4) & 3, (q >> 8) & 0xF, bool(q >> 6 & 1), (q >> 16) & 0xFFFF


# --- Exit qualification for I/O instructions (Table 28-5) ---
IO_QUAL_IN = const(1 << 3)
IO_QUAL_STRING = const(1 << 4)
IO_QUAL_REP = const(1 << 5)


def decode_io(q):
    """(port, width in bytes, is_in, is_string, is_rep, immediate operand)."""
    return ((q >> 16) & 0xFFFF, (q & 7) + 1, bool(q >> 3 & 1), bool(q >> 4 & 1),
            bool(q >> 5 & 1), bool(q >> 6 & 1))


# --- VM-exit instruction information for INS/OUTS (SDM 3C 28.2.5, Table
# 28-8; filled only where IA32_VMX_BASIC has BASIC_INS_OUTS_INFO) ---
def io_info_addr_bits(info):
    """Address size in bits from bits 9:7 (0: 16, 1: 32, 2: 64)."""
    return 16 << ((info >> 7) & 7)


def io_info_seg(info):
    """Segment register from bits 17:15 (ES=0 ... GS=5; undefined for INS,
    which always writes ES)."""
    return (info >> 15) & 7


# --- Exit qualification for EPT violations (Table 28-7) ---
EPT_VIOL_READ = const(1 << 0)
EPT_VIOL_WRITE = const(1 << 1)
EPT_VIOL_FETCH = const(1 << 2)
EPT_VIOL_READABLE = const(1 << 3)           # the entry allowed reads ...
EPT_VIOL_WRITABLE = const(1 << 4)
EPT_VIOL_EXECUTABLE = const(1 << 5)
EPT_VIOL_GLA_VALID = const(1 << 7)
EPT_VIOL_GLA_TRANSLATION = const(1 << 8)    # 0: a guest paging-structure access


def decode_ept_violation(q):
    """Access string as hv.vcpu.svm.defs.decode_npf makes it: 'r', 'w' or 'x' for
    the access, 'p' when the entry was present (a permission violation,
    not absence), 't' when it hit the guest's own page-table walk."""
    s = "x" if q & EPT_VIOL_FETCH else "w" if q & EPT_VIOL_WRITE else "r"
    if q & (EPT_VIOL_READABLE | EPT_VIOL_WRITABLE | EPT_VIOL_EXECUTABLE):
        s += "p"
    if q & EPT_VIOL_GLA_VALID and not q & EPT_VIOL_GLA_TRANSLATION:
        s += "t"
    return s


# --- Exit reasons (SDM 3C 25.9.1 Table 25-18; App. C Table C-1) ---
EXIT_REASON_FAILED_ENTRY = 1 << 31
EXIT_REASON_BASIC_MASK = const(0xFFFF)
EXIT_EXCEPTION_NMI = const(0)
EXIT_EXTERNAL_INTERRUPT = const(1)
EXIT_TRIPLE_FAULT = const(2)
EXIT_INIT = const(3)
EXIT_SIPI = const(4)
EXIT_INTERRUPT_WINDOW = const(7)
EXIT_NMI_WINDOW = const(8)
EXIT_TASK_SWITCH = const(9)
EXIT_CPUID = const(10)
EXIT_GETSEC = const(11)
EXIT_HLT = const(12)
EXIT_INVD = const(13)
EXIT_VMCALL = const(18)
EXIT_VMCLEAR = const(19)
EXIT_VMLAUNCH = const(20)
EXIT_VMPTRLD = const(21)
EXIT_VMPTRST = const(22)
EXIT_VMREAD = const(23)
EXIT_VMRESUME = const(24)
EXIT_VMWRITE = const(25)
EXIT_VMXOFF = const(26)
EXIT_VMXON = const(27)
EXIT_CR_ACCESS = const(28)
EXIT_IO_INSTRUCTION = const(30)
EXIT_RDMSR = const(31)
EXIT_WRMSR = const(32)
EXIT_INVALID_GUEST_STATE = const(33)
EXIT_MSR_LOADING = const(34)
EXIT_MWAIT = const(36)
EXIT_MONITOR = const(39)
EXIT_MACHINE_CHECK = const(41)
EXIT_EPT_VIOLATION = const(48)
EXIT_EPT_MISCONFIG = const(49)
EXIT_INVEPT = const(50)
EXIT_PREEMPTION_TIMER = const(52)
EXIT_INVVPID = const(53)
EXIT_XSETBV = const(55)
EXIT_VMFUNC = const(59)


# --- VM-instruction errors (SDM 3C 31.4; their names: hv.vcpu.vmx.names) ---
VMFAIL_INVALID = const(0)       # VMfailInvalid: no current VMCS, no number
