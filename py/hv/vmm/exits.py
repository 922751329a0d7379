# The exits that leave the vCPU for vm.run() (tier two; hv.vcpu.dispatch
# answers the rest inside the vCPU): I/O and MMIO nobody registered (the
# unhandled policy), hypercalls, MSRs, fresh RAM on a nested page fault, a
# host interrupt or a HLT for the timers; the trace and the exit ring.
# Arch-neutral; bare metal and CPython.
from micropython import const
from hv.vcpu import ring as _ring
from hv.vcpu.api import GuestFault
from hv.vmm import trace as _trace

COM1 = const(0x3F8)
COM1_PORTS = const(8)
_VEC_GP = const(13)


def handle(vmm, vcpu, e, n, tr, show, ring):
    """One exit the vCPU returned (tier two) to vmm.run(): None when handled,
    else why the run ends. tr: the trace list or None; show: the
    hv.vmm.trace.Printer or None; ring: the vCPU's exit ring."""
    r = e.reason
    if e.stop is not None:                  # a registered handler ended the run
        why, e.stop = e.stop, None
        ring.add_exit(e, vcpu.exit_rip)
        return why
    if r == "IoWrite" or r == "IoRead":
        return _io(vmm, vcpu, e, n, tr, show, ring)
    if r == "MmioRead" or r == "MmioWrite":
        return _mmio(vmm, vcpu, e, n, tr, show, ring)
    ring.add_exit(e, vcpu.exit_rip if r in _trace.WITH_EXIT_RIP else vcpu.rip)
    if tr is not None or show is not None:
        _record(tr, show, n, e.as_tuple(), vcpu)
    if r == "Hypercall":
        fn = vmm.hypercalls.get(e.nr)
        if fn is None:
            vcpu.retry()                # run() again, once registered, repeats it
            return "UnknownHypercall"
        vcpu.set_return_value(fn(vcpu, e.args))
    elif r == "SysRegRead" or r == "SysRegWrite":
        _msr(vcpu, e)
    elif r == "NestedPageFault":
        fresh = vcpu.ram_fault              # vm.run() registered ram_fault() below
        if "p" in e.access or fresh is None or vcpu.mmio_claims(e.addr) or not fresh(e.addr):
            return r
    elif r == "ExternalInterrupt":
        vmm.platform.ticks.poll(vcpu)
    elif r != "Halt" or not vmm.platform.ticks.halted(vcpu):
        return r                        # Halt for good, SystemDown, FailEntry, ...
    return None


def _io(vmm, vcpu, e, n, tr, show, ring):
    # A port no handler took inside the vCPU: one registered there while
    # every exit goes out (trace, stop()), or none (the unhandled policy:
    # only 'stop' ends the run; 'pc' and 'absent' float the bus high).
    port, r = e.port, e.reason
    fn = (vcpu.io_in if r == "IoRead" else vcpu.io_out).get(port)
    if fn is None and vmm.unhandled_io == "stop":
        ring.add_exit(e, vcpu.exit_rip)
        vcpu.retry()                    # run() again, once allowed, repeats the IN/OUT
        return "UnhandledPort"
    mask = (1 << (8 * e.width)) - 1
    why = None
    if r == "IoWrite":
        value = e.data
        if fn is not None:
            why = fn(port, e.width, value)
    else:
        value = fn(port, e.width) & mask if fn is not None else mask   # absent: floats high
        vcpu.complete(value)
    ring.add(_ring.IN if r == "IoRead" else _ring.OUT, port, e.width, value, vcpu.exit_rip)
    if not COM1 <= port < COM1 + COM1_PORTS and (tr is not None or show is not None):
        _record(tr, show, n, (r, port, e.width, value), vcpu)
    return why


def _mmio(vmm, vcpu, e, n, tr, show, ring):
    # An access no device answered inside the vCPU: a registered one
    # while every exit goes out, or none (the unhandled policy, as for ports).
    addr, width, r = e.addr, e.width, e.reason
    write = r == "MmioWrite"
    fn = vcpu.mmio_handler(addr, write)
    if fn is None and vmm.unhandled_io != "absent":
        ring.add_exit(e, vcpu.exit_rip)
        if tr is not None or show is not None:
            _record(tr, show, n, e.as_tuple(), vcpu)
        vcpu.retry()                    # run() again, once a device is there, repeats it
        return "UnhandledMmio"
    try:
        if write:
            value = e.data
            if fn is not None:
                fn(addr, width, value)
        else:
            mask = (1 << (8 * width)) - 1
            value = fn(addr, width) & mask if fn is not None else mask   # absent: all ones
            vcpu.complete(value)
    except GuestFault as f:
        vcpu.fault(f.vector, f.error_code)
        return None
    ring.add(_ring.MMIO_WRITE if write else _ring.MMIO_READ, addr, width, value, vcpu.exit_rip)
    if tr is not None or show is not None:
        _record(tr, show, n, (r, addr, width, value), vcpu)
    return None


def _msr(vcpu, e):
    # Registered MSRs (vm.vmm.msrs among them) answer; any other intercepted
    # MSR faults as on hardware without it: #GP(0) at the instruction (SDM 2B RDMSR).
    fn = (vcpu.msr_in if e.reason == "SysRegRead" else vcpu.msr_out).get(e.msr)
    if fn is None:
        vcpu.fault(_VEC_GP, 0)
        return
    try:
        if e.reason == "SysRegRead":
            vcpu.complete(fn(e.msr))
        else:
            fn(e.msr, e.value)
    except GuestFault as f:
        vcpu.fault(f.vector, f.error_code)


def ram_fault(vm, vcpu):
    """The fn for vcpu.register_ram_fault(): fn(gpa) backs a not-present
    page inside guest RAM with a fresh zeroed frame and says True, inside
    vcpu.run() (tier one) or for a NestedPageFault that came out. Its
    callers have asked vcpu.mmio_claims(gpa) first: a device's page never
    becomes RAM (a fetch or table walk there stops)."""
    def fault(gpa):
        return vm.fault_in(gpa, vcpu.mmio_claims_any)   # False: outside RAM or mapped already
    return fault


def _record(tr, show, n, t, vcpu):
    # Exit n as the tuple t: into the run's trace list, onto the console.
    if tr is not None:
        tr.append(t)
    if show is not None:
        show.exit(n, t, vcpu)
