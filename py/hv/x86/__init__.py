# Architecture facts: register, MSR, EFER and control-register bits, instruction
# lengths, guest page walks, the guest page tables load_flat builds, and the
# MMIO/string I/O instruction decoder and emulator (decode, emulate, string_io).
# Constants and pure functions; bare metal and CPython.
