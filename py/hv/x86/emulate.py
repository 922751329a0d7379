# Executes an instruction decoded by hv.x86.decode whose memory operand hit
# an MMIO range (a nested page fault / EPT violation): the register and flag
# effects per each instruction's SDM 2A page, the memory access through the
# vCPU's callbacks, then RIP past it. Pure Python: runs on the bare-metal
# port and on CPython (host tests drive it with a fake vCPU).
#
# The `cpu` object (the vCPU, or a test's fake) provides:
#   get_gpr(n) / set_gpr(n, value)   the register file (hv.x86.regs order)
#   rip, rflags                      readable and writable attributes
#   mmio(gpa, width, value)          guest-physical access of 1/2/4/8 bytes:
#                                    value None reads (returns an int), else
#                                    writes; a registered device's handler
#                                    inside its range, guest RAM elsewhere
#                                    (MOVS/STOS touch RAM on their other side)
#   seg_base(seg)                    segment base (hv.x86.modrm.ES..GS); the
#                                    string forms and operand_linear only
#   translate(linear, write)         guest-linear -> guest-physical through the
#                                    guest's page tables (hv.x86.gwalk); raises
#                                    GuestFault(PF, code, cr2) where the guest
#                                    would take a #PF; the string forms only
# Any callback may raise hv.x86.fault.GuestFault: the instruction then has
# changed nothing (a REP string op keeps the iterations already done); or
# Pause (below) to stop the same way without a guest exception.
from micropython import const
from hv.x86 import alu, gpr
from hv.x86.decode import (OP_STORE, OP_LOAD, OP_MOVZX, OP_MOVSX, OP_XCHG, OP_TEST,
                           OP_MOVS, OP_STOS, OP_LODS, OP_INS, OP_NAMES)
from hv.x86.fault import GuestFault
from hv.x86.insn import DecodeError
from hv.x86.linear import Accessor, addr_mask, linear, operand_linear
from hv.x86.modrm import ES, sx

STRING_BYTES = const(4096)      # a REP string op moves at most this much per call
_RAX = const(0)
_RCX = const(1)
_RSI = const(6)
_RDI = const(7)
_IP_MASK = {16: 0xFFFF, 32: 0xFFFFFFFF, 64: 0xFFFFFFFFFFFFFFFF}
_src = Accessor()
_dst = Accessor()


class Pause(Exception):
    """Raised by a callback that cannot complete its access now (the VMM
    must supply a read's value or see a write first): the instruction stops
    before the access, as for a GuestFault, with nothing changed except a
    REP string op's completed iterations (RCX/RSI/RDI show them, RIP stays)."""


def advance(d, cpu):
    """RIP past the instruction, wrapping at the code size (IP in 16-bit code)."""
    cpu.rip = (cpu.rip + d.length) & _IP_MASK[d.bits]


def emulate(d, cpu, gpa, limit=0):
    """Execute d, whose memory operand the guest accessed at guest-physical
    address gpa (EXITINFO2 of the #NPF, the EPT violation's guest-physical
    address). String forms translate their own addresses instead and move
    at most `limit` elements (default: STRING_BYTES of data) per call; an
    unfinished REP leaves RIP on the instruction with RCX counting what is
    left, as an interrupted REP does (SDM 2A REP: "Operation"), so the guest
    runs it again. Raises DecodeError where d cannot have caused the exit."""
    op = d.op
    if not d.mem:
        raise DecodeError("%s has no memory operand: the code changed under the exit?"
                          % OP_NAMES[op])
    if op >= OP_MOVS:
        if op >= OP_INS:
            raise DecodeError("INS/OUTS on an MMIO range: the port access cannot be emulated")
        _string(d, cpu, limit or STRING_BYTES // d.width)
        return
    w = d.mwidth
    off = gpa & 0xFFF
    if off + w > 4096 or (off == 0 and w > 1 and operand_linear(d, cpu) & 0xFFF):
        raise DecodeError("%d-byte MMIO access at %#x crosses a page boundary" % (w, gpa))
    m = gpr.MASKS[w]
    if op == OP_STORE:
        cpu.mmio(gpa, w, d.imm if d.src_imm else gpr.get(cpu, d.reg, w))
    elif op == OP_LOAD:
        gpr.put(cpu, d.reg, w, cpu.mmio(gpa, w, None) & m)
    elif op == OP_MOVZX:
        gpr.put(cpu, d.reg, d.width, cpu.mmio(gpa, w, None) & m)
    elif op == OP_MOVSX:
        v = sx(cpu.mmio(gpa, w, None) & m, w)
        gpr.put(cpu, d.reg, d.width, v & gpr.MASKS[d.width])
    elif op == OP_XCHG:                     # the memory is written before the register
        v = cpu.mmio(gpa, w, None) & m
        cpu.mmio(gpa, w, gpr.get(cpu, d.reg, w))
        gpr.put(cpu, d.reg, w, v)
    else:                                   # OP_ALU, OP_TEST
        v = cpu.mmio(gpa, w, None) & m
        s = d.imm if d.src_imm else gpr.get(cpu, d.reg, w)
        fl = cpu.rflags
        if op == OP_TEST:
            f = alu.logic_flags(v & s, w)
        else:
            if d.to_mem:
                a, b = v, s
            else:
                a, b = s, v
            c = fl & alu.CF
            r = alu.compute(d.alu, a, b, c, w)
            f = alu.flags(d.alu, a, b, r, c, w)
            if d.alu != alu.CMP:
                if d.to_mem:
                    cpu.mmio(gpa, w, r)
                else:
                    gpr.put(cpu, d.reg, w, r)
        cpu.rflags = fl & ~alu.STATUS | f
    advance(d, cpu)


def _string(d, cpu, limit):
    # MOVS, STOS, LODS (SDM 2A MOVS/STOS/LODS and REP pages): DS:rSI (any
    # segment override) to ES:rDI (never overridden), stepping by the width
    # down when RFLAGS.DF is set, registers at the address size.
    op, w, ab, bits = d.op, d.width, d.addr_bits, d.bits
    am = addr_mask(ab)
    step = -w if cpu.rflags & alu.DF else w
    count = cpu.get_gpr(_RCX) & am if d.rep else 1
    if count == 0:
        advance(d, cpu)
        return
    n = count if count < limit else limit
    si = cpu.get_gpr(_RSI) & am
    di = cpu.get_gpr(_RDI) & am
    v = cpu.get_gpr(_RAX) & gpr.MASKS[w]
    _src.reset(bits)
    _dst.reset(bits)
    k = 0
    try:
        while k < n:
            if op == OP_MOVS:
                v = _src.read(cpu, linear(cpu, bits, d.seg, si), w)
                _dst.write(cpu, linear(cpu, bits, ES, di), w, v)
                si = (si + step) & am
                di = (di + step) & am
            elif op == OP_STOS:
                _dst.write(cpu, linear(cpu, bits, ES, di), w, v)
                di = (di + step) & am
            else:
                v = _src.read(cpu, linear(cpu, bits, d.seg, si), w)
                si = (si + step) & am
            k += 1
    except (GuestFault, Pause):
        _commit(d, cpu, op, ab, count, k, si, di, v)
        raise
    _commit(d, cpu, op, ab, count, k, si, di, v)


def _commit(d, cpu, op, ab, count, k, si, di, v):
    # The registers after k complete iterations; RIP moves on once none is left.
    if op != OP_STOS:
        gpr.put_addr(cpu, _RSI, ab, si)
    if op != OP_LODS:
        gpr.put_addr(cpu, _RDI, ab, di)
    if op == OP_LODS and k:
        gpr.put(cpu, _RAX, d.width, v)
    if d.rep:
        gpr.put_addr(cpu, _RCX, ab, count - k)
    if k == count:
        advance(d, cpu)
