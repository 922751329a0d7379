# Architecture facts: register, MSR, EFER and control-register bits, instruction
# lengths, guest page walks and the guest page tables load_flat builds.
# Constants and pure functions; bare metal and CPython.
