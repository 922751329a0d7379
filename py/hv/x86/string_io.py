# String I/O: INS and OUTS, with or without REP, 8/16/32-bit, RFLAGS.DF,
# 16/32/64-bit address size, segment override for OUTS (SDM 2A INS/INSB/
# INSW/INSD, OUTS/OUTSB/OUTSW/OUTSD and REP pages), as one bounded step per
# exit over the vCPU's callbacks. Pure Python: runs on the bare-metal port
# and on CPython (host tests).
#
# `d` is an hv.x86.decode.Insn with op OP_INS or OP_OUTS: decoded from the
# instruction's bytes, or filled by Insn.set_string_io from the exit (SVM
# EXITINFO1, APM2 15.10.2; VMX exit qualification and VM-exit instruction
# information, SDM 3C 28.2.1 Table 28-5, 28.2.5 Table 28-8). `cpu` provides
# what hv.x86.emulate documents (get_gpr/set_gpr, rip, rflags, seg_base,
# translate, mmio for the memory side) and the port side:
#   io_in(port, width) -> int        io_out(port, width, value) -> None or a
#                                    str: the run ends with that reason
from micropython import const
from hv.x86 import alu, gpr
from hv.x86.decode import OP_INS, OP_OUTS
from hv.x86.emulate import STRING_BYTES, Pause, advance
from hv.x86.fault import GuestFault
from hv.x86.insn import DecodeError
from hv.x86.linear import Accessor, addr_mask, linear
from hv.x86.modrm import ES

_RCX = const(1)
_RSI = const(6)
_RDI = const(7)
_mem = Accessor()


def run(d, port, cpu, limit=0):
    """Perform the INS/OUTS d on `port` (DX; both exits report it): at most
    `limit` elements (default: STRING_BYTES of data), then RCX, RSI/RDI
    hold the progress and RIP moves past the instruction only once it is
    complete (RCX = 0 for REP), as an interrupted REP leaves them (SDM 2A
    REP), so the guest re-executes it and a huge count cannot stall the VMM.
    Returns None, or the str an io_out handler returned (the run should end;
    that element was done). GuestFault from translate or a handler, and
    hv.x86.emulate.Pause from a callback, propagate with the completed
    iterations kept and RIP on the instruction."""
    op, w, ab, bits = d.op, d.width, d.addr_bits, d.bits
    if op != OP_INS and op != OP_OUTS:
        raise DecodeError("string I/O needs an INS or OUTS, not op %d" % op)
    if ab not in (16, 32, 64) or w not in (1, 2, 4):
        raise DecodeError("string I/O with address size %d, width %d" % (ab, w))
    am = addr_mask(ab)
    step = -w if cpu.rflags & alu.DF else w
    count = cpu.get_gpr(_RCX) & am if d.rep else 1
    if count == 0:
        advance(d, cpu)
        return None
    if not limit:
        limit = STRING_BYTES // w
    n = count if count < limit else limit
    r = _RDI if op == OP_INS else _RSI
    seg = ES if op == OP_INS else d.seg     # INS always writes ES:rDI
    a = cpu.get_gpr(r) & am
    _mem.reset(bits)
    k = 0
    stop = None
    try:
        while k < n:
            lin = linear(cpu, bits, seg, a)
            if op == OP_INS:
                _mem.check(cpu, lin, w, True)   # a #PF comes before the port read
                _mem.write(cpu, lin, w, cpu.io_in(port, w) & gpr.MASKS[w])
            else:
                stop = cpu.io_out(port, w, _mem.read(cpu, lin, w) & gpr.MASKS[w])
            a = (a + step) & am
            k += 1
            if stop is not None:
                break
    except (GuestFault, Pause):
        _commit(d, cpu, r, ab, count, k, a)
        raise
    _commit(d, cpu, r, ab, count, k, a)
    return stop


def _commit(d, cpu, r, ab, count, k, a):
    gpr.put_addr(cpu, r, ab, a)
    if d.rep:
        gpr.put_addr(cpu, _RCX, ab, count - k)
    if k == count:
        advance(d, cpu)
