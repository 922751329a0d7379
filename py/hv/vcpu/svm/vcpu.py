# The SVM vCPU (x86_vcpu's AxArchVCpu for AMD): VMCB set-up for real,
# protected and long mode, intercept maps, stepping RIP and the run loop;
# registers in hv.vcpu.svm.state, events in .events, exit handlers in .exits.
# Runs on the bare-metal port (hw and svm natives) and on CPython with fakes
# of both (host tests).
from micropython import const
from hv.x86 import insn, regs
from hv.x86.exceptions import AMD_ERROR_CODE_VECTORS
from hv.vcpu.svm.nextrip import advance, cached_cpuid, step_slow
from hv.host.cpu import rdmsr_or_none
from hv.host.frame import PhysFrame
from hv.x86.guest_tables import SEL_CODE, TABLES_GPA
from hv.x86.msr import IA32_EFER
from hv.vcpu.svm import defs, modes, names, percpu, vmcb as V
from hv.vcpu.svm.checks import vmrun_failures
from hv.vcpu.svm.exits import HANDLERS
from hv.vcpu.svm.structs import Iopm, Msrpm
from hv.vcpu.api import NO_SLICE, VCpu, UnexpectedExit
from hv.vcpu.svm.events import SvmEvents
from hv.vcpu.svm.state import SvmState

_VMEXIT_CPUID = const(0x72)                 # defs.VMEXIT_CPUID, folded by the compiler
# Intercepts every guest gets (APM2 15.9-15.13); VMRUN's is mandatory (15.5.1).
_MISC1 = (defs.INTERCEPT_INTR | defs.INTERCEPT_NMI | defs.INTERCEPT_SMI | defs.INTERCEPT_INIT
          | defs.INTERCEPT_CPUID | defs.INTERCEPT_INVD | defs.INTERCEPT_HLT
          | defs.INTERCEPT_INVLPGA | defs.INTERCEPT_IOIO_PROT | defs.INTERCEPT_MSR_PROT
          | defs.INTERCEPT_SHUTDOWN)
_MISC2 = (defs.INTERCEPT_VMRUN | defs.INTERCEPT_VMMCALL | defs.INTERCEPT_VMLOAD
          | defs.INTERCEPT_VMSAVE | defs.INTERCEPT_STGI | defs.INTERCEPT_CLGI
          | defs.INTERCEPT_SKINIT | defs.INTERCEPT_MONITOR | defs.INTERCEPT_MWAIT
          | defs.INTERCEPT_XSETBV)
# Switched by VMLOAD/VMSAVE, so safe to leave to the guest (15.5.2).
_PASSTHROUGH_MSRS = (0xC0000081, 0xC0000082, 0xC0000083, 0xC0000084, 0xC0000100,
                     0xC0000101, 0xC0000102, 0x174, 0x175, 0x176)


class SvmVCpu(SvmState, SvmEvents, VCpu):
    NATIVE = "svm"                                  # the back end's natives module
    ERROR_CODE_VECTORS = AMD_ERROR_CODE_VECTORS     # #VC and #SX too (APM2 Table 8-1)
    # Exits that are not instruction intercepts and so may interrupt an
    # event's delivery (EXITINTINFO, APM2 15.7.2) among those intercepted.
    DELIVERY_EXITS = frozenset((defs.VMEXIT_INTR, defs.VMEXIT_NMI, defs.VMEXIT_SMI,
                                defs.VMEXIT_INIT, defs.VMEXIT_VINTR, defs.VMEXIT_NPF))

    def __init__(self, vm, allocator, io=None, native=None):
        super().__init__(vm, allocator, io, native)
        io, native = self.io, self.native
        self.percpu = percpu.acquire(allocator, io.cpuid, rdmsr_or_none(io), io.wrmsr)
        self._frame = self.iopm = self.msrpm = self.asid = None
        try:
            self._frame = PhysFrame.alloc(allocator)
            self.iopm = Iopm(allocator)
            self.msrpm = Msrpm(allocator)
            self.asid = self.percpu.alloc_asid()
        except BaseException:
            self.close()
            raise
        self.vmcb = V.Vmcb(self._frame.start_paddr)
        self._pa = self.vmcb.pa
        self.gprs = regs.new_gprs()
        self.nrips = self.percpu.nrips
        self.decode_assists = self.percpu.decode_assists
        self._ncr3 = 0
        self._bound = False
        self._init_entry(io)                  # a new ASID starts with a flush (15.16.1)
        self._entry = 0
        self._mode = None
        self._internal_msrs = {IA32_EFER: True}
        self._nmi_masked = False              # an injected NMI's handler has not IRETed yet
        self._iret_rip = None                 # where that IRET was intercepted
        self._ibuf = bytearray(16)
        self.entry_failures = []              # vmrun_failures() before the last entry
        self._init_control()

    # -- VMCB control area ------------------------------------------------
    def _init_control(self):
        s = self.vmcb.set
        s(V.INTERCEPT_MISC1, _MISC1)
        s(V.INTERCEPT_MISC2, _MISC2)
        s(V.IOPM_BASE_PA, self.iopm.pa)
        s(V.MSRPM_BASE_PA, self.msrpm.pa)
        s(V.GUEST_ASID, self.asid)
        # Host RFLAGS.IF gates physical interrupts, guest IF virtual ones (15.21.1).
        s(V.VINTR, defs.V_INTR_MASKING)
        s(V.CLEAN_BITS, 0)                    # nothing cached: always reload (15.15)
        for msr in _PASSTHROUGH_MSRS:
            self.msrpm.set(msr, False, False)

    def set_ept_root(self, paddr):
        """Nested page-table root (N_CR3) and NP_ENABLE (15.25.3)."""
        self.vmcb.set(V.N_CR3, paddr)
        self.vmcb.set(V.NP_CONTROL, defs.NP_ENABLE)
        self._ncr3 = paddr
        self.flush_tlb()

    def set_io_intercept(self, port, count, on):
        """on: the guest's IN/OUT on these ports exit as IoRead/IoWrite (the
        default for every port); off: they reach the hardware directly."""
        self.iopm.set(port, count, on)

    def set_msr_intercept(self, msr, read, write):
        """read/write True: RDMSR/WRMSR exit as SysRegRead/SysRegWrite;
        False: the guest uses the real MSR. Default: every MSR intercepted
        except those VMLOAD/VMSAVE switch; EFER is emulated inside unless
        the caller asks for it here."""
        self.msrpm.set(msr, read, write)
        self._internal_msrs.pop(msr, None)

    # -- state save area: modes -------------------------------------------
    def set_entry(self, gpa):
        self._entry = gpa
        if self._mode is not None:
            modes.set_entry(self.vmcb, self._mode, gpa)

    def setup(self, mode, tables=TABLES_GPA, code_sel=SEL_CODE):
        """Guest state for mode 'real' (CS:IP at the entry), 'protected' (flat
        32-bit segments, paging off) or 'long' (64-bit, identity-mapped by
        tables this writes into guest memory at `tables`): hv.vcpu.svm.modes.
        The GDT there has code at code_sel and data at code_sel + 8."""
        if mode not in self.MODES:
            raise ValueError("mode must be one of %s" % (self.MODES,))
        modes.setup(self.vmcb, self.vm, mode, tables, code_sel)
        self._mode = mode
        self.set_entry(self._entry)

    # -- instruction length -------------------------------------------------
    def skip_instruction(self):
        """RIP past the intercepted instruction: nRIP with NRIPS (15.7.1),
        else decoded from guest memory. Ends any interrupt shadow."""
        if not advance(self._pa, self._ncr3, insn.TABLE, self.nrips):
            self.skip_slow()

    def skip_slow(self):
        # What advance() leaves to Python (hv.vcpu.svm.nextrip.step_slow).
        step_slow(self.vmcb, self.vm, self.nrips, self._ibuf)

    # -- running --------------------------------------------------------------
    def bind(self):
        """Make this vCPU current on this CPU (one CPU: a state check)."""
        if self.vmcb is None:
            raise ValueError("vCPU is closed")
        self._bound = True
        self._bind_natives(True)

    def unbind(self):
        self._bind_natives(False)
        self._bound = False

    def run(self):
        """Run the guest until an exit the caller must see; its record."""
        self._check_runnable()
        if self._replay is not None:        # an emulated instruction an exit paused
            e = self._resume()
            if e is not None:
                self.exits += 1
                return e
        if self.vmcb.dirty:
            # The caller changed the VMCB: name what VMRUN would refuse now,
            # as some CPUs (Bochs) overwrite the guest state on VMEXIT_INVALID.
            self.entry_failures = vmrun_failures(self.vmcb)
            self.vmcb.dirty = False
        pa, gprs, host = self._pa, self.gprs, self.percpu.host_area_pa
        ncr3, nrips, table = self._ncr3, self.nrips, insn.TABLE
        enter, get, step = self.native.run, HANDLERS.get, cached_cpuid
        delivery = self.DELIVERY_EXITS
        cached = self.vm.cpuid.cached
        k, limit = 0, self.run_slice or 0   # exits in this call; 0: no slice
        f = self._fast_served
        s0 = f() if f is not None else 0    # exits the natives serve
        fio = self.fast_io
        collected = fio.count               # bytes the natives took at a fast OUT port
        slow, left = self._slow, self._left
        left[0] = limit or NO_SLICE        # what the natives may serve of the slice
        while True:
            if limit and k >= left[0]:
                # A storm of exits handled here or by the natives (tier one,
                # CPUID, ...): let the caller look at its budgets now and then.
                return self._nothing(k, s0)
            # The common case is one native call; interrupts to deliver, a
            # TLB flush and a guest XCR0 take the slow entry.
            if slow[0]:
                code = self._enter_slow()
            else:
                code = enter(pa, gprs, host, self.clock)
            if collected[0]:
                fio.drain()                 # before anything else sees this exit
            k += 1
            if code == _VMEXIT_CPUID:
                # The hottest exit, without a handler call: a cached answer
                # in one viper call (exits.cpuid does the rest).
                done = step(pa, gprs, cached, ncr3, table, nrips)
                if done >= 0:
                    if not done:
                        self.skip_slow()
                    continue
            if code in delivery:
                self.requeue_event()
            handler = get(code)
            if handler is None:
                raise UnexpectedExit("unexpected #VMEXIT %#x (%s)\n%s"
                                     % (code, names.exit_name(code), self.vmcb.dump()))
            e = handler(self)
            if e is not None:
                self._count(k, s0)
                return e

    def _enter(self):
        # One VMRUN (hv.vcpu.entry._enter_slow calls it).
        return self.native.run(self._pa, self.gprs, self.percpu.host_area_pa, self.clock)

    def _flush_begin(self):
        self.vmcb.put(V.TLB_CONTROL, self.percpu.flush_command())   # 15.16.2

    def _flush_end(self):
        self.vmcb.put(V.TLB_CONTROL, defs.TLB_CONTROL_NOTHING)      # VMRUN does not clear it

    def close(self):
        """Return every frame and the ASID (vm.close() calls this)."""
        for obj in (self._frame, self.iopm, self.msrpm):
            if obj is not None:
                obj.close()
        if self.asid is not None:
            self.percpu.free_asid(self.asid)
            self.asid = None
        if self.percpu is not None:
            percpu.release(self.percpu)
            self.percpu = None
        self._frame = self.iopm = self.msrpm = self.vmcb = None
        self._bound = False
