# The instruction classes of the architectural fuzzer (fuzzref.py), by
# name: fuzzref_arith's and fuzzref_data's, the default set, and those where
# plain QEMU 7.2 TCG is no reference. MicroPython and CPython.
from fuzzref_arith import ARITH, CC_READS, DF, alu, bits, muldiv, shift, shld, testop, unary
from fuzzref_data import branch, cmov, cmpxchg8b, exits, flagops, mov, stack, string, xadd

CLASSES = (("alu", alu), ("unary", unary), ("test", testop), ("shift", shift), ("shld", shld),
           ("muldiv", muldiv), ("bits", bits), ("mov", mov), ("xadd", xadd), ("cmov", cmov),
           ("flags", flagops), ("stack", stack), ("string", string), ("branch", branch),
           ("exit", exits), ("cmpxchg8b", cmpxchg8b))
NAMES = tuple(name for name, _ in CLASSES)
# Classes where plain QEMU 7.2 TCG is not a reference (see each one's doc):
# left out of the default set, kept for a fixed QEMU (guest(..., allowed=)).
NOT_REFERENCE = (("cmpxchg8b", cmpxchg8b),)
DEFAULT = tuple(n for n in NAMES if n not in dict(NOT_REFERENCE))
