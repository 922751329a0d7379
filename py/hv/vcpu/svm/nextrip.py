# Stepping RIP over an intercepted instruction when the CPU has no NRIPS
# (QEMU TCG): the guest page walk (as hv.x86.gwalk), the nested walk (APM2
# 15.25.5) and the length decoder (over hv.x86.insn.TABLE) in one viper
# function, so the exit costs one call instead of dozens; and completing
# CPUID the same way. Runs on the bare-metal port
# (MicroPython viper over physical memory); host tests run it on CPython
# with ptr8/ptr16/ptr32 fakes and check it against hv.x86.gwalk and hv.x86.insn.
import sys
import micropython
from micropython import const
from hv.x86 import gwalk, insn
from hv.vcpu.svm import defs, vmcb as V
from hv.vcpu.api import UnexpectedExit

if sys.implementation.name != "micropython":
    from viper_host import ptr8, ptr16, ptr32  # noqa: F401  CPython stand-ins

# VMCB offsets (APM2 Tables B-1, B-2), as 32-bit word or 16-bit indexes.
_W_RIP = const(0x578 >> 2)
_W_NRIP = const(0x0C8 >> 2)
_W_EFER = const(0x4D0 >> 2)
_W_CR0 = const(0x558 >> 2)
_W_CR3 = const(0x550 >> 2)
_W_CR4 = const(0x548 >> 2)
_W_CS_BASE = const(0x418 >> 2)
_W_INT_STATE = const(0x068 >> 2)
_W_RAX = const(0x5F8 >> 2)
_H_CS_ATTR = const(0x412 >> 1)
# Constants above 2**30 are objects in .mpy files, so viper code computes
# its address mask (bits 51:12) and 32-bit mask at run time.
# Table offsets of hv.x86.insn.TABLE
_T_ONE = const(256)
_T_0F = const(512)
_T_0F01 = const(768)


@micropython.viper
def advance(vmcb: int, ncr3: int, table, nrips: int) -> int:
    """RIP := the next instruction's and the interrupt shadow cleared. With
    NRIPS that is nRIP (APM2 15.7.1); without, the instruction is fetched
    through the guest's long-mode page walk (each table access, and the
    result, through the nested tables at ncr3) and decoded with table
    (hv.x86.insn.TABLE). 1, or 0 where the caller must do it in Python: guests
    paging in legacy/PAE/5-level mode, page-crossing or unknown instructions.
    One function, no calls: each viper call would cost as much as the work."""
    v = ptr32(vmcb)
    nrip = 0
    if nrips:
        nrip = int(v[_W_NRIP]) | (int(v[_W_NRIP + 1]) << 32)
    if nrip == 0:
        addr = 1
        addr = (addr << 52) - 4096          # bits 51:12, not folded into a constant
        low32 = 1
        low32 = (low32 << 32) - 1
        rip = int(v[_W_RIP]) | (int(v[_W_RIP + 1]) << 32)
        efer = int(v[_W_EFER])
        cr0 = int(v[_W_CR0])
        long = 0
        if efer & (1 << 10) and int(ptr16(vmcb)[_H_CS_ATTR]) & 0x200:
            long = 1
        linear = (int(v[_W_CS_BASE]) | (int(v[_W_CS_BASE + 1]) << 32)) + rip
        if not long:
            linear = linear & low32
        level = 0                           # guest level to read next; 0: g is final
        g = linear
        if (cr0 >> 31) & 1:
            if not efer & (1 << 10) or int(v[_W_CR4]) & (1 << 12):
                return 0
            level = 39
            g = ((int(v[_W_CR3]) | (int(v[_W_CR3 + 1]) << 32)) & addr) + ((linear >> 39) & 511) * 8
        h = -1
        while True:
            t = ncr3 & addr                 # nested walk: g -> h
            s = 39
            h = -1
            while s >= 12:
                p = ptr32(t + ((g >> s) & 511) * 8)
                e = int(p[0]) | (int(p[1]) << 32)
                if not e & 1:
                    return 0
                if s != 39 and s != 12 and e & 0x80:
                    size = 1 << s
                    h = (e & addr & (0 - size)) | (g & (size - 1))
                    break
                t = e & addr
                s -= 9
            if h < 0:
                h = t | (g & 0xFFF)
            if level == 0:
                break
            p = ptr32(h)                    # the guest's entry at this level
            e = int(p[0]) | (int(p[1]) << 32)
            if not e & 1:
                return 0
            if level != 39 and level != 12 and e & 0x80:
                size = 1 << level
                g = (e & addr & (0 - size)) | (linear & (size - 1))
                level = 0
            elif level == 12:
                g = (e & addr) | (linear & 0xFFF)
                level = 0
            else:
                level -= 9
                g = (e & addr) + ((linear >> level) & 511) * 8
        if (h & 0xFFF) > 0x1000 - 16:
            return 0                        # the instruction may cross the page
        c = ptr8(h)                         # decode: prefixes, REX, opcode
        tab = ptr8(table)
        i = 0
        while i < 15 and tab[c[i]]:
            i += 1
        if long and (c[i] & 0xF0) == 0x40:
            i += 1
        if i >= 13:
            return 0
        op = c[i]
        n = int(tab[_T_ONE + op])
        if n == 0 and op == 0x0F:
            op = c[i + 1]
            n = int(tab[_T_0F + op])
            if n == 0 and op == 0x01:
                n = int(tab[_T_0F01 + c[i + 2]])
        if n == 0 or i + n > 15:
            return 0
        nrip = rip + i + n
        if not long:
            nrip = nrip & low32
    v[_W_RIP] = nrip
    v[_W_RIP + 1] = nrip >> 32
    v[_W_INT_STATE] = 0
    return 1


@micropython.viper
def complete_cpuid(vmcb: int, gprs, a: int, b: int, c: int, d: int, ncr3: int, table, nrips: int) -> int:
    """CPUID's results into RAX (VMCB) and RBX/RCX/RDX (the register file,
    opcode order), zero-extended as the instruction does (APM3 CPUID), then
    advance(). advance()'s result."""
    v = ptr32(vmcb)
    v[_W_RAX] = a
    v[_W_RAX + 1] = 0
    r = ptr32(gprs)
    r[2] = c                                # RCX, slot 1
    r[3] = 0
    r[4] = d                                # RDX, slot 2
    r[5] = 0
    r[6] = b                                # RBX, slot 3
    r[7] = 0
    return int(advance(vmcb, ncr3, table, nrips))


@micropython.viper
def cached_cpuid(vmcb: int, gprs, cached, ncr3: int, table, nrips: int) -> int:
    """The hottest exit in one call: a CPUID whose leaf (EAX) the policy
    answers by leaf alone (cached(leaf), a dict's get) gets its results as
    complete_cpuid() writes them, and advance()'s result; -1 when the leaf
    is not cached (the Python handler, hv.vcpu.svm.exits.cpuid, answers)."""
    v = ptr32(vmcb)
    r = cached(v[_W_RAX], ())               # () where the leaf is not cached
    if int(len(r)) == 0:
        return -1
    v[_W_RAX] = int(r[0])
    v[_W_RAX + 1] = 0
    g = ptr32(gprs)
    g[2] = int(r[2])                        # RCX, slot 1
    g[3] = 0
    g[4] = int(r[3])                        # RDX, slot 2
    g[5] = 0
    g[6] = int(r[1])                        # RBX, slot 3
    g[7] = 0
    return int(advance(vmcb, ncr3, table, nrips))


def step_slow(v, vm, nrips, buf):
    """advance() in Python, for what it leaves: instructions that cross a
    page, guests paging in legacy or PAE mode; raises UnexpectedExit with a
    VMCB dump when the instruction cannot be fetched or decoded."""
    nrip = v.get(V.NRIP) if nrips else 0
    if not nrip:
        rip, efer = v.get(V.RIP), v.get(V.EFER)
        long = efer & defs.EFER_LMA and v.get(V.CS_ATTRIB) & 0x200
        linear = v.get(V.CS_BASE) + rip
        if not long:
            linear &= 0xFFFFFFFF

        def translate(lin):
            return gwalk.translate(lin, v.get(V.CR0), v.get(V.CR3), v.get(V.CR4), efer,
                                   vm.read_phys64)
        gpa = translate(linear)
        try:
            if gpa < 0 or not vm.fetch(gpa, linear, buf, translate):
                raise insn.DecodeError("not mapped")
            n = insn.length(buf, long)
        except insn.DecodeError as e:
            raise UnexpectedExit("cannot step over the instruction at %#x (%s)\n%s"
                                 % (linear, e, v.dump()))
        nrip = (rip + n) & (0xFFFFFFFFFFFFFFFF if long else 0xFFFFFFFF)
    v.put(V.RIP, nrip)
    v.put(V.INTERRUPT_STATE, 0)
