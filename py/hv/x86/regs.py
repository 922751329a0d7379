# The guest general-purpose register file shared by the VMX and SVM
# trampolines: 16 u64 slots in opcode order, then the guest's CR2 (VMX
# only: SVM keeps it in the VMCB), one array that Python and the assembly
# both use. Runs on the bare-metal port and on CPython.
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
SLOTS = const(17)
NAMES = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
         "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
MASK64 = const(0xFFFFFFFFFFFFFFFF)


# Typecode 'L' (unsigned long: 8 bytes on x86_64, here and in CPython on
# Linux) rather than 'Q': MicroPython's MPZ build boxes every 'Q' element
# it reads as a heap int, 'L' ones only when they exceed a small int.
TYPECODE = "L" if len(bytes(array("L", [0]))) == 8 else "Q"


def new_gprs():
    """A zeroed register file (SLOTS x u64, 8-byte aligned)."""
    return array(TYPECODE, [0] * SLOTS)
