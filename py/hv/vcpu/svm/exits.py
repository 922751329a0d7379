# SVM #VMEXIT handlers, one per exit code (APM2 Appendix C), in two tiers:
# CPUID, XSETBV, the interrupt window, EFER and SVM instructions are handled
# here and return None (run on); the rest fill the vCPU's arch-neutral exit
# record (exits that may cut an event's delivery short have had it requeued
# by the run loop: hv.vcpu.svm.vcpu.DELIVERY_EXITS). Runs on the bare-metal port
# and on CPython (host tests, fakes).
from hv.x86.bits import CR0_PG, EFER_LMA, EFER_SVME
from hv.x86 import efer
from hv.x86.regs import MASK64, RCX, RDX
from micropython import const
from hv.vcpu.cpuid import guest_cpuid
from hv.vcpu.dispatch import (TIER_DONE, TIER_END, halt_exit, hypercall_exit, io_exit, msr_exit, port_in,
                              port_out, tier_done, tier_end)
from hv.vcpu.svm import defs, vmcb as V
from hv.x86.insn import TABLE, DecodeError, mov_to_cr
from hv.vcpu.svm.checks import vmrun_failures
from hv.vcpu.svm.nextrip import complete_cpuid

read, write = V.read, V.write
_RIP = const(0x80578)                       # vmcb.RIP, folded by the compiler
_RAX = const(0x805F8)                       # vmcb.RAX
_EXITINFO1 = const(0x80078)
_EXITINFO2 = const(0x80080)
_INTERRUPT_STATE = const(0x80068)
_EXITINTINFO = const(0x80088)
_EVENT_VALID = const(0x80000000)            # defs.EVENT_VALID
_NPF_RW = const(2)                          # defs.NPF_RW
_NPF_P = const(1)                           # defs.NPF_P
_NPF_NOT_DATA = const(0x200000019)          # defs.NPF_P | NPF_RSV | NPF_ID | NPF_TABLE
_IOIO_IN = const(1)                         # defs.IOIO_TYPE_IN
_IOIO_STR_REP = const(0xC)                  # defs.IOIO_STR | defs.IOIO_REP
# RAX as 1, 2 or 8 bytes: IN AL/AX keeps the rest of RAX, IN EAX zero-extends
# (in legacy mode the upper half is undefined, SDM 1 3.4.1.1).
_RAX_BY_WIDTH = (0, 0x105F8, 0x205F8, 0, 0x805F8)

_VEC_UD = 6
_VEC_GP = 13
_WIDTH_MASK = (0, 0xFF, 0xFFFF, 0, 0xFFFFFFFF)


def _record(c, reason):
    e = c.exit
    e.reason = reason
    return e


def cpuid(c):
    # A leaf the run loop's cached lane missed (one that takes ECX or
    # follows the guest's CR4/XCR0): the answer, and one viper call that
    # writes the results and steps RIP.
    pa, g = c._pa, c.gprs
    a, b, cx, d = guest_cpuid(c, V.read(pa, V.RAX) & 0xFFFFFFFF, g[RCX] & 0xFFFFFFFF)
    if not complete_cpuid(pa, g, a, b, cx, d, c._ncr3, TABLE, c.nrips):
        c.skip_slow()


def vmmcall(c):
    pa = c._pa
    rip = read(pa, _RIP)
    c._skip(c)
    return hypercall_exit(c, read(pa, _RAX), rip)


def hlt(c):
    c._skip(c)
    return halt_exit(c)


def ioio(c):
    # Decoded once from EXITINFO1 (APM2 15.10.2: TYPE bit 0, STR 2, REP 3,
    # SZ8/16/32 bits 4-6 so bits 6:4 are the width in bytes, port 31:16);
    # EXITINFO2 is the next RIP with or without NRIPS. A registered port is
    # answered here; the interrupt shadow ends with the instruction.
    pa = c._pa
    info = read(pa, _EXITINFO1)
    port, width = info >> 16 & 0xFFFF, info >> 4 & 7
    rip = read(pa, _RIP)
    if info & _IOIO_STR_REP:
        return _string_io(c, info, port, width, rip)
    write(pa, _RIP, read(pa, _EXITINFO2))
    write(pa, _INTERRUPT_STATE, 0)
    if info & _IOIO_IN:
        value = port_in(c, port, width, rip)
        if value < 0:
            return io_exit(c, "IoRead", port, width, rip)
        write(pa, _RAX_BY_WIDTH[width], value)     # AL, AX, or EAX zero-extended
        return None
    return port_out(c, port, width, read(pa, _RAX) & _WIDTH_MASK[width], rip)


def _string_io(c, info, port, width, rip):
    # INS/OUTS (STR, bit 2): the address size from A16/A32/A64 (QEMU TCG
    # leaves them clear), the segment from SEG only with decode assists
    # (hv.vcpu.svm.defs.ioio_seg), the length from EXITINFO2, the next RIP
    # (15.10.2); hv.vcpu.strio decodes the bytes for what is missing.
    length = (read(c._pa, _EXITINFO2) - rip) & MASK64
    return c.string_io(port, width, info & _IOIO_IN, bool(info & defs.IOIO_REP),
                       defs.ioio_addr_bits(info), defs.ioio_seg(info) if c.decode_assists else -1,
                       length if 0 < length <= 15 else 0)


def msr(c):
    pa, g = c._pa, c.gprs
    number = g[RCX] & 0xFFFFFFFF
    write = read(pa, _EXITINFO1) & 1        # 0 RDMSR, 1 WRMSR (15.11)
    value = (g[RDX] & 0xFFFFFFFF) << 32 | read(pa, _RAX) & 0xFFFFFFFF if write else 0
    if number in c._internal_msrs:
        return _efer(c, write, value)
    return msr_exit(c, number, write, value, read(pa, _RIP))


def _efer(c, write, value):
    # The guest sees its EFER without SVME; SVME stays set underneath
    # (15.5.1) and LMA stays the processor's (APM2 3.1.7: read-only). A
    # value the CPU would refuse #GPs (hv.x86.efer), never reaching the VMCB.
    v = c.vmcb
    cur = v.get(V.EFER)
    if write:
        if efer.write_faults(value, cur, v.get(V.CR0) & CR0_PG, c.vm.cpuid.answer(0x80000001, 0)[3]):
            c.inject_exception(_VEC_GP, 0)
            return None
        v.set(V.EFER, value & ~EFER_LMA | cur & EFER_LMA | EFER_SVME)
    else:
        guest = cur & ~EFER_SVME
        v.put(V.RAX, guest & 0xFFFFFFFF)
        c.gprs[RDX] = guest >> 32
    c._skip(c)
    return None


def xsetbv(c):
    return c._xsetbv_exit()


def vintr(c):
    c.close_window()                        # the guest can take one now (15.21.4)
    if c.tpr_hook is not None:              # or it lowered CR8 below a waiting LAPIC vector
        c.tpr_hook()
    return None


def cr8_write(c):
    # MOV to CR8 while the CR8-write intercept is on (a TPR window): the
    # source GPR from decode assists (15.33.1) or the instruction itself;
    # bits 63:4 set #GP(0) (SDM 2B MOV CR); V_TPR gets the value, the window
    # closes and the LAPIC (tpr_hook) sees the new priority.
    pa = c._pa
    info = read(pa, _EXITINFO1)
    if c.decode_assists and info & defs.CR_INFO_MOV:
        gpr = info & 0xF
    else:
        bits = c.code_bits()
        try:
            cr, gpr, n = mov_to_cr(c.fetch_code(read(pa, _RIP), bits), bits == 64)
        except DecodeError as e:
            raise NotImplementedError("CR8 write exit at rip %#x: %s" % (read(pa, _RIP), e))
    value = c.get_gpr(gpr)
    if value >> 4:
        c.inject_exception(_VEC_GP, 0)
        return None
    c.close_window()
    c._set_vtpr(value)
    c._skip(c)
    if c.tpr_hook is not None:
        c.tpr_hook()
    return None


def iret(c):
    # Intercepted before it runs (APM2 15.9): it ends an injected NMI's handler.
    c.iret_seen()
    return None


def intr(c):
    e = _record(c, "ExternalInterrupt")
    e.vector = c.native.intr_vector()
    return e


def nmi(c):
    e = _record(c, "ExternalInterrupt")
    e.vector = 2
    return e


def resume(c):
    return None                             # SMI, INIT: the host has seen it


def invd(c):
    c._skip(c)                    # keep the host's caches (INVD drops writes)
    return None


def undefined(c):
    c.inject_exception(_VEC_UD)             # SVM, MONITOR(X) and MWAIT(X) are hidden from CPUID
    return None


def shutdown(c):
    return _record(c, "SystemDown")         # triple fault or shutdown (15.12)


def npf(c):
    # A data access (not a fetch, not the guest's table walk, not during
    # event delivery) to a not-present page that is a device or outside RAM
    # is MMIO: emulated (hv.vcpu.mmio). A not-present page of RAM the VMM
    # backs inside run() (register_ram_fault; the guest retries the access,
    # an event it was delivering requeued). The rest is a NestedPageFault.
    pa = c._pa
    info, gpa = read(pa, _EXITINFO1), read(pa, _EXITINFO2)
    device = c.mmio_claims(gpa)
    if device and not info & _NPF_NOT_DATA and not read(pa, _EXITINTINFO) & _EVENT_VALID:
        return c.mmio_fault(gpa, info & _NPF_RW)
    ram = c._ram_fault
    if ram is not None and not device and not info & _NPF_P and ram(gpa):
        return None
    e = _record(c, "NestedPageFault")
    e.addr = gpa
    e.access = defs.decode_npf(info)
    return e


def invalid(c):
    e = _record(c, "FailEntry")
    e.code = defs.VMEXIT_INVALID
    # The state as the exit left it (the guest may have changed it), else as
    # it was before the entry (Bochs stores the host's state on this exit).
    fails = vmrun_failures(c.vmcb) or c.entry_failures
    e.message = "VMRUN failed its consistency checks (APM2 15.5.1): " + (
        "; ".join(fails) if fails else "no check this back end knows failed")
    return e


HANDLERS = {
    defs.VMEXIT_CPUID: cpuid,
    defs.VMEXIT_VMMCALL: vmmcall,
    defs.VMEXIT_HLT: hlt,
    defs.VMEXIT_IOIO: ioio,
    defs.VMEXIT_MSR: msr,
    defs.VMEXIT_XSETBV: xsetbv,
    defs.VMEXIT_VINTR: vintr,
    defs.VMEXIT_CR8_WRITE: cr8_write,
    defs.VMEXIT_IRET: iret,
    defs.VMEXIT_INTR: intr,
    defs.VMEXIT_NMI: nmi,
    defs.VMEXIT_SMI: resume,
    defs.VMEXIT_INIT: resume,
    defs.VMEXIT_INVD: invd,
    defs.VMEXIT_VMRUN: undefined,
    defs.VMEXIT_VMLOAD: undefined,
    defs.VMEXIT_VMSAVE: undefined,
    defs.VMEXIT_STGI: undefined,
    defs.VMEXIT_CLGI: undefined,
    defs.VMEXIT_SKINIT: undefined,
    defs.VMEXIT_INVLPGA: undefined,
    defs.VMEXIT_MONITOR: undefined,
    defs.VMEXIT_MWAIT: undefined,
    defs.VMEXIT_SHUTDOWN: shutdown,
    defs.VMEXIT_NPF: npf,
    defs.VMEXIT_INVALID: invalid,
    0xFFFFFFFF: invalid,                    # QEMU TCG writes EXITCODE as 32 bits
    MASK64: invalid,                        # -1 as the 64-bit field reads
    TIER_END: tier_end,                     # not the CPU's: the natives' (port/tier.h)
    TIER_DONE: tier_done,
}
