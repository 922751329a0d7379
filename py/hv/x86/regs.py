# The guest general-purpose register file shared by the VMX and SVM
# trampolines: 16 u64 slots in opcode order, then the guest's CR2 (VMX
# only: SVM keeps it in the VMCB), then the guest's x87/SSE state as an
# FXSAVE image (port/fpu.h swaps it with the host's around every entry):
# one array that Python, C and the assembly all use. Bare metal and CPython.
from array import array
from micropython import const

RAX = const(0)
RCX = const(1)
RDX = const(2)
RBX = const(3)
RSP = const(4)
RBP = const(5)
RSI = const(6)
RDI = const(7)
R8 = const(8)
R9 = const(9)
R10 = const(10)
R11 = const(11)
R12 = const(12)
R13 = const(13)
R14 = const(14)
R15 = const(15)
CR2 = const(16)         # not a GPR: the VMCS has no CR2 (SDM 3C 25.4.1), port/vmx.asm switches it
SLOTS = const(17)       # the GPRs and CR2
FPU = const(18)         # first slot of the 512-byte FXSAVE image (16-byte aligned: slot 17 pads)
FPU_BYTES = const(512)
TOTAL = const(82)       # FPU + 512 / 8
# The image starts as FNINIT leaves the x87 unit, FCW 0x037F with every
# exception masked (SDM Vol. 1 8.1.5), and MXCSR at its reset value 0x1F80
# (10.2.3): a zeroed FCW would unmask every x87 exception.
_FCW_SLOT = const(18)       # FCW: bytes 0-1 of the image
_MXCSR_SLOT = const(21)     # MXCSR: bytes 24-27
NAMES = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
         "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
MASK64 = const(0xFFFFFFFFFFFFFFFF)


# Typecode 'L' (unsigned long: 8 bytes on x86_64, here and in CPython on
# Linux) rather than 'Q': MicroPython's MPZ build boxes every 'Q' element
# it reads as a heap int, 'L' ones only when they exceed a small int.
TYPECODE = "L" if len(bytes(array("L", [0]))) == 8 else "Q"


def new_gprs():
    """A register file: zeroed GPRs and CR2, the FPU image in its reset
    state (TOTAL x u64; MicroPython's heap blocks align it to 16 bytes)."""
    g = array(TYPECODE, [0] * TOTAL)
    g[_FCW_SLOT] = 0x037F
    g[_MXCSR_SLOT] = 0x1F80
    return g
