# Exceptions the guest must see instead of the instruction the VMM emulates
# (vector numbers: SDM 3A 6.3.1, Table 6-1). Raised by the instruction
# emulator (hv.x86.emulate, hv.x86.string_io) and by device handlers; the
# vCPU injects them. Pure Python: runs on the bare-metal port and on CPython.
from micropython import const

DE = const(0)           # divide error
UD = const(6)           # invalid opcode (no error code)
SS = const(12)          # stack-segment fault (error code)
GP = const(13)          # general protection (error code)
PF = const(14)          # page fault (error code; CR2 = the linear address)


class GuestFault(Exception):
    """The guest's instruction raises exception `vector` (with `error_code`,
    or None for vectors without one) instead of completing: nothing it would
    have changed is changed, RIP stays at it. For a #PF, `cr2` is the
    faulting linear address the vCPU must load into the guest's CR2."""

    def __init__(self, vector, error_code=None, cr2=None):
        # args are the call's: MicroPython's Exception has no __init__ to chain to
        self.vector, self.error_code, self.cr2 = vector, error_code, cr2
