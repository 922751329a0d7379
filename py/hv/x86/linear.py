# Guest linear addresses for the instruction emulator: the effective address
# of a decoded memory operand (SDM 1 3.7.5; RIP-relative 2A 2.2.1.6), segment
# base + offset (3A 3.4; in 64-bit mode only FS/GS bases apply, 3A 3.2.4), and
# an accessor that translates once per page through the vCPU. Runs on the
# bare-metal port and on CPython.
from micropython import const
from hv.x86 import gwalk
from hv.x86.fault import GuestFault, GP, PF, SS as SS_FAULT
from hv.x86.modrm import FS, SS

_M64 = const(0xFFFFFFFFFFFFFFFF)
_M32 = const(0xFFFFFFFF)
_PAGE = const(4096)


def translate_or_fault(lin, write, user, cr0, cr3, cr4, efer, read64):
    """hv.x86.gwalk.translate for a vCPU's translate(): the GPA of lin, or
    GuestFault(PF, code, lin) for a not-present page, with the error code of
    SDM 3A 4.7 (P = 0, W/R = write, U/S = user: CPL 3)."""
    gpa = gwalk.translate(lin, cr0, cr3, cr4, efer, read64)
    if gpa < 0:
        raise GuestFault(PF, (2 if write else 0) | (4 if user else 0), lin)
    return gpa


def addr_mask(abits):
    return (1 << abits) - 1


def linear(cpu, bits, seg, offset):
    """Linear address of seg:offset (offset already cut to the address size)
    for code size `bits`: bases from cpu.seg_base(seg); 32-bit wrap outside
    64-bit mode; a non-canonical 64-bit address is #GP(0), #SS(0) through SS
    (3A 3.3.7.1). No limit or access-rights checks (3A 5.3)."""
    if bits == 64:
        a = (offset + cpu.seg_base(seg)) & _M64 if seg >= FS else offset
        top = a >> 47
        if top != 0 and top != 0x1FFFF:
            raise GuestFault(SS_FAULT if seg == SS else GP, 0)
        return a
    return (offset + cpu.seg_base(seg)) & _M32


def offset(d, cpu):
    """Effective address (the offset within the segment) of d's memory
    operand, cut to its address size; RIP-relative from the next RIP."""
    a = d.disp
    if d.riprel:
        a += cpu.rip + d.length
    if d.base >= 0:
        a += cpu.get_gpr(d.base)
    if d.index >= 0:
        a += cpu.get_gpr(d.index) << d.scale
    return a & addr_mask(d.addr_bits)


def operand_linear(d, cpu):
    """Linear address of d's memory operand (for checks against the exit's
    guest linear address, and for forms without a faulting GPA)."""
    return linear(cpu, d.bits, d.seg, offset(d, cpu))


class Accessor:
    """Guest-linear reads and writes through cpu.translate(linear, write) ->
    its GPA (which raises GuestFault(PF, code, linear) for a #PF) and cpu.mmio(gpa, width, value or
    None), remembering the last page translated. reset(bits) before each use:
    the guest may change its page tables between exits."""

    def __init__(self):
        self.page = -1
        self.gpa = 0
        self.mask = _M64

    def reset(self, bits):
        """Forget the last translation; bits: the code size (linear
        addresses wrap at 4 GiB outside 64-bit mode)."""
        self.page = -1
        self.mask = _M64 if bits == 64 else _M32

    def _next(self, cpu, lin, w, write):
        # The page holding the last byte of an access that crosses a page.
        return cpu.translate(((lin + w - 1) & self.mask) & ~0xFFF, write) & ~0xFFF

    def _frame(self, cpu, lin, write):
        p = lin >> 12
        if p != self.page:
            self.gpa = cpu.translate(lin, write) & ~0xFFF
            self.page = p
        return self.gpa

    def check(self, cpu, lin, w, write):
        """Translate every page the access touches now (an INS must fault
        before it reads the port, not after)."""
        self._frame(cpu, lin, write)
        if (lin & 0xFFF) + w > _PAGE:
            self._next(cpu, lin, w, write)

    def read(self, cpu, lin, w):
        off = lin & 0xFFF
        if off + w <= _PAGE:
            return cpu.mmio(self._frame(cpu, lin, False) | off, w, None)
        # Across a page boundary: both pages first, then byte by byte.
        lo = self._frame(cpu, lin, False)
        hi = self._next(cpu, lin, w, False)
        v = 0
        for k in range(w):
            a = lo | (off + k) if off + k < _PAGE else hi | (off + k - _PAGE)
            v |= (cpu.mmio(a, 1, None) & 0xFF) << (8 * k)
        return v

    def write(self, cpu, lin, w, value):
        off = lin & 0xFFF
        if off + w <= _PAGE:
            cpu.mmio(self._frame(cpu, lin, True) | off, w, value)
            return
        lo = self._frame(cpu, lin, True)
        hi = self._next(cpu, lin, w, True)
        for k in range(w):
            a = lo | (off + k) if off + k < _PAGE else hi | (off + k - _PAGE)
            cpu.mmio(a, 1, (value >> (8 * k)) & 0xFF)
