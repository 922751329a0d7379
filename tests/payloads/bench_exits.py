# VM-exit round trips by exit type, for bench/exits.py and its on-target test
# (tests/target/test_bench_exits.py): the guest tests/guests/exit_loop.asm
# makes n exits of one kind, handled by the normal path (vcpu.run() under the
# VMM, vm.run()), by the native CPUID fast path where there is one, and by
# the minimal native loop (svm/vmx.bench_loop), each in a fresh VM.
# Bare-metal port (hw, svm or vmx, the guests module).
import gc
import hv
import hw
import guests
from hv.x86.regs import RBX, R12

BENCH_PORT = 0x610              # exit_loop.asm
TEST_MSR = 0x4D500001           # common.inc
MEM = 128 << 20                 # NPF pages from 16 MiB: up to 28672 of them
MAX_N = (MEM - (16 << 20)) >> 12
# kind -> (guest selector, SVM exit code, VMX basic exit reason, length of
# the guest's instruction; APM2 Appendix C, SDM 3C Appendix C)
KINDS = {
    "cpuid": (0, 0x72, 10, 2),
    "out": (1, 0x7B, 30, 1),
    "in": (2, 0x7B, 30, 1),
    "hypercall": (3, 0x81, 18, 3),          # VMMCALL; VMCALL (selector 4) on Intel
    "rdmsr": (5, 0x7C, 31, 2),
    "wrmsr": (6, 0x7C, 32, 2),
    "npf": (7, 0x400, 48, 2),
}
_HLT = {"amd": 0x78, "intel": 12}
_CR4_PSE_PGE = 0x90
FAST_BATCH = 1024               # port/natives.h: exits served per native run() call


def fast_served(n):
    """CPUIDs of n the fast path serves: after each FAST_BATCH it hands the
    next exit to Python (the exit budget's look), which answers that one."""
    return n - n // (FAST_BATCH + 1)


def _clock():
    return hw.rdtsc() / hw.tsc_hz()


def _ready(kind, n):
    # A VM whose vCPU has entered once and stopped at the guest's first HLT,
    # so every later entry is the plain one; (vm, vcpu, arch).
    if kind == "npf" and n > MAX_N:
        raise ValueError("npf: at most %d exits (one fresh page each)" % MAX_N)
    arch = hv.vendor()
    selector = KINDS[kind][0] + (kind == "hypercall" and arch == "intel")
    vm = hv.VM(MEM)
    c = vm.new_vcpu()
    vm.write(guests.LOAD, guests.EXIT_LOOP)
    c.set_entry(guests.LOAD)
    c.setup("long")
    c.set_gpr(RBX, selector)
    c.set_gpr(R12, n)
    vm.vmm.ports[BENCH_PORT] = 0
    vm.vmm.msrs[TEST_MSR] = 0
    r = vm.run(c, echo=False)
    if r.reason != "Halt" or r.exits != 1:
        vm.close()
        raise RuntimeError("exit_loop did not stop at its first HLT: %r" % r)
    if arch == "amd":
        # CR4's PSE and PGE as the host's (boot/entry.asm) and Linux's: a
        # world switch that changes them costs QEMU TCG a TLB flush more,
        # which no exit path here should be measured with.
        from hv.vcpu.svm import vmcb as V
        c.vmcb.put(V.CR4, c.vmcb.get(V.CR4) | hw.cr4() & _CR4_PSE_PGE)
    return vm, c, arch


def _native():
    return __import__("svm" if hv.vendor() == "amd" else "vmx")


def python_path(kind, n):
    """(seconds, exits, iterations left in the guest's R12, exits the
    natives served) for n exits handled by vm.run(): n + 1 with the last
    HLT (RunResult.exits counts those the vCPU answers inside run() too);
    the natives serve what tier one has (port/tier.h): all but the HLT, the
    first CPUID (Python answers it, and the policy caches its leaf) and one
    exit after every FAST_BATCH they served (check()); a fresh page's
    nested page fault too."""
    vm, c, _ = _ready(kind, n)
    try:
        gc.collect()
        s0 = _native().fast_served()
        t0 = _clock()
        r = vm.run(c, echo=False)
        t = _clock() - t0
        served = _native().fast_served() - s0
        if r.reason != "Halt":
            raise RuntimeError("exit_loop %s ended with %r" % (kind, r))
        return t, r.exits, c.get_gpr(R12), served
    finally:
        vm.close()


def two_bound(n):
    """Two exit_loop VMs making INs of BENCH_PORT, their vCPUs bound at once
    (the second last, so the natives hold its tier one), each with its own
    handler for the port; the first runs to its HLT with vcpu.run(). (calls
    of the first's handler, calls of the second's): (n, 0), as the natives
    serve only the vCPU whose tables they hold and leave the rest to Python."""
    calls = [0, 0]

    def handler(i):
        def read(port, width):
            calls[i] += 1
            return i
        return read
    vm1, c1, _ = _ready("in", n)
    try:
        vm2, c2, _ = _ready("in", n)
        try:
            c1.register_io(BENCH_PORT, 1, handler(0), None)
            c2.register_io(BENCH_PORT, 1, handler(1), None)
            c1.bind()
            c2.bind()
            try:
                e = c1.run()
                while e.reason == "Nothing" or e.reason == "ExternalInterrupt":
                    e = c1.run()
            finally:
                c2.unbind()
                c1.unbind()
            if e.reason != "Halt":
                raise RuntimeError("exit_loop in ended with %r" % (e.reason,))
            return tuple(calls)
        finally:
            vm2.close()
    finally:
        vm1.close()


def fast_cpuid_path(n):
    """(seconds, CPUIDs the native fast path served, R12 left) for n CPUID
    exits under vm.run() with the fast path of port/modsvm.c or modvmx.c
    answering from the policy's table (all but one in FAST_BATCH + 1)."""
    vm, c, arch = _ready("cpuid", n)
    try:
        if arch == "amd":
            import svm as native
        else:
            import vmx as native
        native.fast_cpuid(vm.cpuid.table([(0x40000000, 0)]))
        try:
            gc.collect()
            t0 = _clock()
            r = vm.run(c, echo=False)
            t = _clock() - t0
            served = native.fast_served()
        finally:
            native.fast_cpuid(None)             # off, and its count back to 0
        if r.reason != "Halt":
            raise RuntimeError("exit_loop cpuid ended with %r" % r)
        return t, served, c.get_gpr(R12)
    finally:
        vm.close()


def native_loop(kind, n):
    """(seconds, exits handled, exit code that ended the loop, R12 left) for
    n exits and the final HLT under svm/vmx.bench_loop: RIP stepped, nothing
    else. The loop ends on the HLT: handled == n, code == that HLT's."""
    vm, c, arch = _ready(kind, n)
    try:
        _, svm_code, vmx_reason, length = KINDS[kind]
        if c.xcr0 != c.host_xcr0 or c.pending_interrupts():
            raise RuntimeError("bench_loop enters the guest without XCR0 or event work")
        c.bind()                                # VMX: its VMCS current again
        gc.collect()
        if arch == "amd":
            import svm
            t0 = _clock()
            handled, code = svm.bench_loop(c._pa, c.gprs, c.percpu.host_area_pa,
                                           svm_code, n + 1, length)
        else:
            import vmx
            t0 = _clock()
            handled, code = vmx.bench_loop(c.gprs, vmx_reason, n + 1, length)
        t = _clock() - t0
        c.unbind()
        return t, handled, code, c.get_gpr(R12)
    finally:
        vm.close()


def check(kind, n):
    """The three paths with n exits each, their counts checked (the
    on-target test): None, or what went wrong."""
    arch = hv.vendor()
    _, exits, left, served = python_path(kind, n)
    # Python answers the first CPUID (then the policy caches its leaf) and
    # every exit after FAST_BATCH served ones; the natives the rest.
    want = fast_served(n - 1) if kind == "cpuid" else fast_served(n)
    if (exits, left, served) != (n + 1, 0, want):
        return "vm.run() path: %d exits, R12 %d, %d served by the natives; want %d, 0, %d" % (
            exits, left, served, n + 1, want)
    _, handled, code, left = native_loop(kind, n)
    if (handled, code, left) != (n, _HLT[arch], 0):
        return "native loop: %d handled, code %#x, R12 %d" % (handled, code, left)
    if kind == "cpuid":
        _, served, left = fast_cpuid_path(n)
        if (served, left) != (fast_served(n), 0):
            return "fast path: %d served, R12 %d" % (served, left)
    return None
