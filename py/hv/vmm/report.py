# How a VM ended, as text for a person: one sentence saying what happened,
# the last exit, the guest's mode, RIP and registers, the last few exits
# (hv.vmm.trace.Ring), the guest's last console lines and, for an exception
# in a Python exit handler, its traceback. Every RunResult's .report comes from here. Arch-neutral; runs
# on the bare-metal port and on CPython (host tests).
from hv.x86.bits import CR0_PE, CR0_PG, EFER_LMA
import sys
from hv.vmm.console import last_lines
from hv.vmm.trace import describe


# Ends that are the guest's own choice or the caller's: reported, not shouted.
NORMAL = ("DebugExit", "Halt", "Stopped", "PowerOff", "Reset")


def sentence(reason, exit, detail):
    """What happened, in one sentence, for a RunResult reason."""
    if reason == "DebugExit":
        return "the guest wrote %#x to port 0xF4 (debug-exit) and ended" % detail
    if reason == "Halt":
        return "the guest halted with interrupts off, so nothing can wake it"
    if reason == "PowerOff":
        return "the guest powered the machine off (ACPI S5: SLP_TYP/SLP_EN in PM1a_CNT)"
    if reason == "Reset":
        return ("the guest reset the machine (8042 command 0xFE, port 0x92 bit 0 or the "
                "reset register 0xCF9)")
    if reason == "Stopped":
        return "stop(exit) returned True; vm.run() again goes on from here"
    if reason == "SystemDown":
        return ("the guest shut down: a triple fault (an exception it could not "
                "deliver, e.g. with no usable IDT) or a shutdown")
    if reason == "FailEntry":
        return "the guest could not be entered: %s" % exit.message
    if reason == "NestedPageFault":
        return ("the guest accessed guest-physical %#x (%s) where nothing is mapped "
                "and the VMM has no RAM to give" % (exit.addr, exit.access))
    if reason == "UnknownHypercall":
        return ("the guest made hypercall %#x, which the VMM does not know; to allow "
                "it, register vm.vmm.hypercalls[%#x] = fn(vcpu, args) returning RAX"
                % (exit.nr, exit.nr))
    if reason == "UnhandledPort":
        return ("the guest %s port %#x (%d byte%s), which no device handles; to allow "
                "it, set vm.vmm.ports[%#x] = value (IN returns it, OUT stores it) or "
                "vm.vmm.unhandled_io = 'pc' (the default outside strict mode: reads all "
                "ones, writes dropped)"
                % ("read" if exit.reason == "IoRead" else "wrote", exit.port, exit.width,
                   "" if exit.width == 1 else "s", exit.port))
    if reason == "UnhandledMmio":
        return ("the guest %s guest-physical %#x (%d byte%s), where there is no RAM and "
                "no device; to allow it, register one with vcpu.register_mmio(base, size, "
                "read, write) or set vm.vmm.unhandled_io = 'absent' (reads all ones, "
                "writes dropped)" % ("read" if exit.reason == "MmioRead" else "wrote",
                                     exit.addr, exit.width, "" if exit.width == 1 else "s"))
    if reason == "ExitBudget":
        return ("the guest made %d exits without ending (an exit storm?), the limit of "
                "vm.vmm.exit_budget; raise it, or set it to None for no limit" % detail)
    if reason == "GuestPanic":
        return "the guest kernel panicked (its console: %r)" % detail
    if reason == "TimeBudget":
        return ("the guest ran for %.2f s without ending, past vm.vmm.time_budget; "
                "raise it, or set it to None for no limit" % detail)
    if reason == "Unsupported":
        return "the guest did what mpvisor cannot virtualize yet: %s" % detail
    if reason == "OutOfFrames":
        return "the host has no frame left to back the guest's RAM (%s)" % detail
    if reason == "HandlerError":
        return "a Python exit handler raised %s: %s" % (type(detail).__name__, detail)
    return "the VMM cannot handle this exit (%s)" % reason


def mode(cr0, efer, code_bits):
    """The guest's execution mode from CR0, EFER and its code size."""
    if not cr0 & CR0_PE:
        return "real mode"
    paging = ", paging on" if cr0 & CR0_PG else ", paging off"
    if efer & EFER_LMA:
        return "64-bit long mode" if code_bits == 64 else \
            "compatibility mode (%d-bit code)" % code_bits
    return "%d-bit protected mode%s" % (code_bits, paging)


def traceback_text(exc):
    """The traceback of exc as text, on MicroPython and on CPython."""
    if hasattr(sys, "print_exception"):
        import io
        s = io.StringIO()
        sys.print_exception(exc, s)
        return s.getvalue()
    import traceback
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def guest_state(vcpu):
    """Lines: mode, RIP and control registers, then the GPRs three to a line."""
    from hv.x86.regs import NAMES
    try:
        cr0, cr3, cr4, efer, code_bits = vcpu.control_regs()
        lines = ["guest: rip %#x in %s (cr0 %#x cr3 %#x cr4 %#x efer %#x)"
                 % (vcpu.rip, mode(cr0, efer, code_bits), cr0, cr3, cr4, efer)]
        names = NAMES + ("rflags",)
        values = [vcpu.get_gpr(i) for i in range(16)] + [vcpu.rflags]
    except Exception as e:          # a closed vCPU, a VMCS that cannot be read
        return ["guest: state unavailable (%s: %s)" % (type(e).__name__, e)]
    for i in range(0, len(names), 3):
        lines.append("  " + "  ".join("%-6s %016x" % nv for nv in zip(names[i:i + 3], values[i:i + 3])))
    return lines


def build(reason, exit, detail, vcpu, recent, names=None, error=None, last=None, console=None):
    """The whole report of a run that ended for `reason` (RunResult.reason).
    recent: the vCPU ring's entries(); last: the exit a handler inside the
    vCPU was answering when it raised (an exit tuple), else None; console:
    the guest's COM1 output (bytes), whose last lines end the report."""
    lines = ["VM stopped: " + sentence(reason, exit, detail if error is None else error) + "."]
    if last is not None:
        lines.append("exit: " + describe(last, names))
    elif exit is not None and exit.reason == "Nothing":
        lines.append("exit: none for the VMM: the vCPU handled the last ones itself "
                     "(CPUID, the interrupt window, ...) or its watchdog timer fired")
    elif exit is not None:
        lines.append("exit: " + describe(exit.as_tuple(), names))
    if reason not in ("DebugExit", "Stopped"):
        lines += guest_state(vcpu)
        recent = recent or []
        if recent:
            lines.append("last %d exits of the %d the VMM saw:" % (len(recent), recent[-1][0]))
            for n, t, rip in recent:
                lines.append("  [exit %d] %s at rip %#x" % (n, describe(t, names), rip))
    if console:
        tail = last_lines(console)
        lines.append("the guest's last %d console line%s:" % (len(tail), "" if len(tail) == 1 else "s"))
        lines += ["  | " + t for t in tail]
    if error is not None:
        lines.append(traceback_text(error).rstrip())
    return "\n".join(lines)
