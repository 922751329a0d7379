# VMX exit handlers by basic exit reason (SDM App. C), two tiers: CPUID,
# XSETBV, EFER, CRs (hv.vcpu.vmx.cr), the interrupt window and VMX instructions
# are handled here (None: run on); the rest fill the arch-neutral exit
# record, entry failures a FailEntry. Port and CPython (fakes).
from hv.x86.bits import CR0_PG, EFER_LMA
from hv.x86 import efer
from micropython import const
from hv.x86.regs import MASK64, RAX, RCX, RDX, RBX
from hv.vcpu.cpuid import guest_cpuid
from hv.vcpu.dispatch import (TIER_DONE, TIER_END, halt_exit, hypercall_exit, io_exit, msr_exit, port_in,
                              port_out, tier_done, tier_end)
from hv.vcpu.api import UnexpectedExit
from hv.x86.insn import DecodeError, length
from hv.vcpu.vmx import checks, cr, defs, fields as F, names

_VEC_UD, _VEC_GP = 6, 13
_WIDTH_MASK = (0, 0xFF, 0xFFFF, 0, 0xFFFFFFFF)
_VMMCALL = b"\x0f\x01\xd9"                          # AMD's hypercall (APM3 VMMCALL)
_IO_IN = const(1 << 3)                              # defs.IO_QUAL_IN
_IO_STR_REP = const(3 << 4)                         # string and REP bits
# EPT violation qualification (Table 28-7): not a fetch (bit 2), entry not
# present (bits 5:3 clear), linear address valid and translated (bits 7, 8).
_EPT_DATA_MASK = const(0x1BC)
_EPT_DATA = const(0x180)
_EPT_PERMS = const(0x38)                            # bits 5:3: what the entry allowed (0: not present)


def _record(c, reason):
    e = c.exit
    e.reason = reason
    return e


def cpuid(c):
    g = c.gprs
    a, b, cx, d = guest_cpuid(c, g[RAX] & 0xFFFFFFFF, g[RCX] & 0xFFFFFFFF)
    g[RAX] = a                              # 32-bit results zero-extend (SDM 2A CPUID)
    g[RBX] = b
    g[RCX] = cx
    g[RDX] = d
    c._skip(c)


def _hypercall(c, length=None):
    rip = c.vmcs.readn(F.GUEST_RIP)
    c._skip(c, length)
    return hypercall_exit(c, c.gprs[RAX], rip)


def vmcall(c):
    return _hypercall(c)


def exception_nmi(c):
    v = c.vmcs
    vector, kind, _ = defs.decode_intr_info(v.read32(F.VM_EXIT_INTR_INFO))
    if kind == defs.INTR_TYPE_NMI:
        e = _record(c, "ExternalInterrupt")   # the host's NMI handler has run (port/modvmx.c)
        e.vector = 2
        return e
    if vector == _VEC_UD:
        return _invalid_opcode(c)
    raise UnexpectedExit("unexpected exception %d in the guest\n%s" % (vector, v.dump()))


def _invalid_opcode(c):
    # The guests' hypercall is VMMCALL, which Intel CPUs answer with #UD:
    # treat it as VMCALL (as Linux KVM does), and give every other #UD back.
    # #UD reports no instruction length (SDM 3C 28.2.5): decode it.
    bits = c.code_bits()
    try:
        code = c.fetch_code(c.rip, bits)
        n = length(code, bits == 64)
    except (DecodeError, NotImplementedError):     # not VMMCALL, or not in guest RAM
        n = 0
    if n >= 3 and bytes(code[n - 3:n]) == _VMMCALL:
        return _hypercall(c, n)
    c.inject_exception(_VEC_UD)
    return None


def external_interrupt(c):
    e = _record(c, "ExternalInterrupt")     # acknowledged on exit, handled by the host
    e.vector = c.vmcs.read32(F.VM_EXIT_INTR_INFO) & defs.INTR_VECTOR_MASK
    return e


def triple_fault(c):
    return _record(c, "SystemDown")


def resume(c):
    return None                             # INIT, SIPI: nothing for this guest


def interrupt_window(c):
    c.close_window()                        # the guest can take one now (26.7.5)
    return None


def nmi_window(c):
    c.close_nmi_window()                    # no NMI blocking now (26.7.6): the loop injects
    return None


def hlt(c):
    c._skip(c)
    return halt_exit(c)


def invd(c):
    c._skip(c)                    # keep the host's caches (INVD drops writes)
    return None


def undefined(c):
    c.inject_exception(_VEC_UD)             # VMX, MONITOR/MWAIT: hidden from CPUID
    return None


def io(c):
    # Decoded once from the exit qualification (SDM 3C Table 28-5: size-1
    # in bits 2:0, IN bit 3, string bit 4, REP bit 5, port 31:16); RIP steps
    # by the exit's instruction length. A registered port is answered here.
    v, g = c.vmcs, c.gprs
    q = v.readn(F.EXIT_QUALIFICATION)
    port, width = q >> 16 & 0xFFFF, (q & 7) + 1
    rip = v.readn(F.GUEST_RIP)
    if q & _IO_STR_REP:
        return _string_io(c, q, port, width)
    c._skip(c)
    if q & _IO_IN:
        value = port_in(c, port, width, rip)
        if value < 0:
            return io_exit(c, "IoRead", port, width, rip)
        # AL/AX keep the rest of RAX; EAX zero-extends (SDM 1 3.4.1.1)
        g[RAX] = value if width == 4 else g[RAX] & ~_WIDTH_MASK[width] & MASK64 | value
        return None
    return port_out(c, port, width, g[RAX] & _WIDTH_MASK[width], rip)


def _string_io(c, q, port, width):
    # INS/OUTS: the address size and segment from the VM-exit instruction
    # information where IA32_VMX_BASIC[54] says the CPU fills it (28.2.5,
    # Table 28-8), the length from the exit (25.9.4); else hv.vcpu.strio
    # decodes the bytes.
    v = c.vmcs
    addr_bits, seg = 0, -1
    if c.caps.basic & defs.BASIC_INS_OUTS_INFO:
        info = v.read32(F.VMX_INSTRUCTION_INFO)
        addr_bits, seg = defs.io_info_addr_bits(info), defs.io_info_seg(info)
    return c.string_io(port, width, q & _IO_IN, bool(q & defs.IO_QUAL_REP), addr_bits, seg,
                       v.read32(F.VM_EXIT_INSTRUCTION_LEN))


def _msr(c, write):
    g = c.gprs
    number = g[RCX] & 0xFFFFFFFF
    value = (g[RDX] & 0xFFFFFFFF) << 32 | g[RAX] & 0xFFFFFFFF if write else 0
    if number in c._internal_msrs:
        return _efer(c, write, value)
    return msr_exit(c, number, write, value, c.vmcs.readn(F.GUEST_RIP))


def rdmsr(c):
    return _msr(c, False)


def wrmsr(c):
    return _msr(c, True)


def _efer(c, write, value):
    # EFER lives in the VMCS (load/save IA32_EFER); LMA is the processor's
    # (SDM 3A 2.2.1: read-only). A value the CPU would refuse #GPs
    # (hv.x86.efer), never reaching the VMCS, where entry would fail (27.3.1.1).
    v = c.vmcs
    cur = v.read64(F.GUEST_IA32_EFER)
    if write:
        if efer.write_faults(value, cur, cr.guest_cr0(c) & CR0_PG,
                             c.vm.cpuid.answer(0x80000001, 0)[3]):
            c.inject_exception(_VEC_GP, 0)
            return None
        v.write64(F.GUEST_IA32_EFER, value & ~EFER_LMA | cur & EFER_LMA)
    else:
        c.gprs[RAX] = cur & 0xFFFFFFFF
        c.gprs[RDX] = cur >> 32
    c._skip(c)
    return None


def xsetbv(c):
    return c._xsetbv_exit()


# --- EPT (SDM 3C 29.3.3) ---
def ept_violation(c):
    # A data access by an instruction (the final translation of a valid
    # linear address, not a fetch, not during event delivery) to a
    # not-present page that is a device or outside RAM is MMIO: emulated
    # (hv.vcpu.mmio). A not-present page of RAM the VMM backs inside run()
    # (register_ram_fault; the guest retries the access, an event it was
    # delivering requeued). The rest is a NestedPageFault.
    v = c.vmcs
    q = v.readn(F.EXIT_QUALIFICATION)
    gpa = v.read64(F.GUEST_PHYSICAL_ADDRESS)
    device = c.mmio_claims(gpa)
    if device and q & _EPT_DATA_MASK == _EPT_DATA and not v.read32(F.IDT_VECTORING_INFO) & defs.INTR_VALID:
        return c.mmio_fault(gpa, q & defs.EPT_VIOL_WRITE)
    ram = c._ram_fault
    if ram is not None and not device and not q & _EPT_PERMS and ram(gpa):
        return None
    e = _record(c, "NestedPageFault")
    e.addr = gpa
    e.access = defs.decode_ept_violation(q)
    return e


def ept_misconfig(c):
    # An EPT entry the CPU cannot use (29.3.3.1): a VMM bug, reported as a
    # fault with 'v' (reserved bits), as SVM reports an NPT reserved bit.
    e = _record(c, "NestedPageFault")
    e.addr = c.vmcs.read64(F.GUEST_PHYSICAL_ADDRESS)
    e.access = "v"
    return e


def preemption_timer(c):
    return _record(c, "Nothing")            # the time slice set_preemption_timer() gave



# --- Entry outcomes other than an exit (SDM 3C 27.7, 31.4) ---
def vm_fail(c, error):
    """VMLAUNCH/VMRESUME failed (VMfailValid or VMfailInvalid): FailEntry
    with the VM-instruction error number, its name and what checks.py
    finds wrong in the controls (7) or host state (8)."""
    e = _record(c, "FailEntry")
    e.code = error
    found = (checks.control_failures(c) if error == 7 else
             checks.host_failures(c) if error == 8 else [])
    e.message = "VM entry failed: VM-instruction error %d (%s)%s" % (
        error, names.vm_error_name(error), ": " + "; ".join(found) if found else "")
    return e


def failed_entry(c, reason):
    """Exit reason with bit 31: the guest state (33), MSR loading (34) or a
    machine check (41) stopped the entry. FailEntry names the check."""
    v = c.vmcs
    basic = reason & defs.EXIT_REASON_BASIC_MASK
    q = v.readn(F.EXIT_QUALIFICATION)
    if basic == defs.EXIT_INVALID_GUEST_STATE:
        found = checks.guest_failures(c)
        detail = names.INVALID_GUEST_STATE_DETAIL.get(q)
        if detail:
            found.insert(0, detail)
        what = "invalid guest state (SDM 3C 27.3.1): " + (
            "; ".join(found) if found else "no check this back end knows failed")
    elif basic == defs.EXIT_MSR_LOADING:
        what = "loading MSR entry %d of the VM-entry MSR-load area failed" % q
    else:
        what = names.exit_name(reason)
    c.relaunch()
    e = _record(c, "FailEntry")
    e.code = reason
    e.message = "VM entry failed (exit reason %#x, %s): %s" % (reason, names.exit_name(reason), what)
    return e


HANDLERS = {
    defs.EXIT_EXCEPTION_NMI: exception_nmi,
    defs.EXIT_EXTERNAL_INTERRUPT: external_interrupt,
    defs.EXIT_TRIPLE_FAULT: triple_fault,
    defs.EXIT_INIT: resume,
    defs.EXIT_SIPI: resume,
    defs.EXIT_INTERRUPT_WINDOW: interrupt_window,
    defs.EXIT_NMI_WINDOW: nmi_window,
    defs.EXIT_CPUID: cpuid,
    defs.EXIT_GETSEC: undefined,
    defs.EXIT_HLT: hlt,
    defs.EXIT_INVD: invd,
    defs.EXIT_VMCALL: vmcall,
    defs.EXIT_VMCLEAR: undefined,
    defs.EXIT_VMLAUNCH: undefined,
    defs.EXIT_VMPTRLD: undefined,
    defs.EXIT_VMPTRST: undefined,
    defs.EXIT_VMREAD: undefined,
    defs.EXIT_VMRESUME: undefined,
    defs.EXIT_VMWRITE: undefined,
    defs.EXIT_VMXOFF: undefined,
    defs.EXIT_VMXON: undefined,
    defs.EXIT_CR_ACCESS: cr.cr_access,
    defs.EXIT_IO_INSTRUCTION: io,
    defs.EXIT_RDMSR: rdmsr,
    defs.EXIT_WRMSR: wrmsr,
    defs.EXIT_MWAIT: undefined,
    defs.EXIT_MONITOR: undefined,
    defs.EXIT_EPT_VIOLATION: ept_violation,
    defs.EXIT_EPT_MISCONFIG: ept_misconfig,
    defs.EXIT_INVEPT: undefined,
    defs.EXIT_PREEMPTION_TIMER: preemption_timer,
    defs.EXIT_INVVPID: undefined,
    defs.EXIT_XSETBV: xsetbv,
    defs.EXIT_VMFUNC: undefined,
    TIER_END: tier_end,                             # not the CPU's: the natives' (port/tier.h)
    TIER_DONE: tier_done,
}
