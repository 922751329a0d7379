# The SVM vCPU (x86_vcpu's AxArchVCpu for AMD): VMCB set-up for real,
# protected and long mode, registers, intercept maps, event injection and
# the run loop; exit handlers are in hv.vcpu.svm.exits. Runs on the bare-metal
# port (hw and svm natives) and on CPython with fakes of both (host tests).
from micropython import const
from hv.x86 import insn, regs
from hv.x86.exceptions import AMD_ERROR_CODE_VECTORS
from hv.vcpu.svm.nextrip import advance, cached_cpuid, step_slow
from hv.host.cpu import rdmsr_or_none
from hv.host.frame import PhysFrame
from hv.x86.guest_tables import SEL_CODE, TABLES_GPA
from hv.x86.msr import IA32_EFER
from hv.vcpu.svm import defs, modes, percpu, vmcb as V
from hv.vcpu.svm.checks import vmrun_failures
from hv.vcpu.svm.exits import HANDLERS
from hv.vcpu.svm.structs import Iopm, Msrpm
from hv.vcpu.api import VCpu, UnexpectedExit

_VMEXIT_CPUID = const(0x72)                 # defs.VMEXIT_CPUID, folded by the compiler
_RAX_FIELD = const(0x805F8)                 # vmcb.RAX
_RFLAGS_IF = 1 << 9
_RFLAGS_RESERVED = 1 << 1
_CR0_PE = 1 << 0
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


class SvmVCpu(VCpu):
    ERROR_CODE_VECTORS = AMD_ERROR_CODE_VECTORS     # #VC and #SX too (APM2 Table 8-1)

    def __init__(self, vm, allocator, io=None, native=None):
        super().__init__(vm)
        if io is None:
            import hw as io
        if native is None:
            import svm as native
        self.io, self.native = io, native
        self._fast_served = getattr(native, "fast_served", None)
        self._allocator = allocator
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
        self._tlb_flush = True                # a new ASID starts clean (15.16.1)
        self._slow_entry = True               # something to do before the next VMRUN
        self._cpuid = vm.cpuid.answer
        self._entry = 0
        self._mode = None
        self._internal_msrs = {IA32_EFER: True}
        self.host_xcr0 = io.xgetbv(0) if io.cr4() & (1 << 18) else 1
        self.xcr0 = self.host_xcr0
        self._ibuf = bytearray(16)
        self.entry_failures = []              # vmrun_failures() before the last entry
        self._nmi_masked = False              # an injected NMI's handler has not IRETed yet
        self._iret_rip = None                 # where that IRET was intercepted
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

    def flush_tlb(self):
        """Flush this guest's TLB entries at the next VMRUN (after the nested
        tables lost a mapping or a permission)."""
        self._tlb_flush = True
        self._slow_entry = True

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

    # -- registers ----------------------------------------------------------
    def get_gpr(self, n):
        if n == regs.RAX:
            return self.vmcb.get(V.RAX)
        if n == regs.RSP:
            return self.vmcb.get(V.RSP)
        return self.gprs[n]

    def put_rax(self, value):
        """RAX := value, already in 0..2**64-1 (the hot paths: no mask)."""
        V.write(self._pa, _RAX_FIELD, value)

    def set_gpr(self, n, value):
        if value < 0 or value >> 64:        # no big-int mask on the common path
            value &= regs.MASK64
        if n == regs.RAX:
            self.vmcb.put(V.RAX, value)
        elif n == regs.RSP:
            self.vmcb.put(V.RSP, value)
        else:
            self.gprs[n] = value

    @property
    def rip(self):
        return self.vmcb.get(V.RIP)

    @rip.setter
    def rip(self, value):
        self.vmcb.put(V.RIP, value)

    @property
    def cr2(self):
        """The guest's CR2, which VMRUN and #VMEXIT switch (VMCB save area,
        APM2 Table B-2)."""
        return self.vmcb.get(V.CR2)

    @cr2.setter
    def cr2(self, value):
        self.vmcb.put(V.CR2, value & regs.MASK64)

    @property
    def rflags(self):
        return self.vmcb.get(V.RFLAGS)

    @rflags.setter
    def rflags(self, value):
        self.vmcb.put(V.RFLAGS, value | _RFLAGS_RESERVED)

    def long_mode(self):
        """64-bit code: EFER.LMA and CS.L (APM2 4.8.1)."""
        return bool(self.vmcb.get(V.EFER) & defs.EFER_LMA and self.vmcb.get(V.CS_ATTRIB) & 0x200)

    # -- what the instruction emulator reads (hv.vcpu.mmio, strio) ----------
    def code_bits(self):
        """The code size: 64 (EFER.LMA and CS.L), 32 (CS.D) or 16 (APM2 4.8.1)."""
        pa = self._pa
        cs = V.read(pa, V.CS_ATTRIB)        # L is bit 9, D/B bit 10 (Table B-2)
        if cs & 0x200 and V.read(pa, V.EFER) & defs.EFER_LMA:
            return 64
        return 32 if cs & 0x400 else 16

    def seg_base(self, seg):
        """Base of segment register seg (ES=0 ... GS=5: the VMCB's order, Table B-2)."""
        return V.read(self._pa, V.seg_base(V.ES + 16 * seg))

    def cpl(self):
        return V.read(self._pa, V.CPL)

    def paging_regs(self):
        pa = self._pa
        return V.read(pa, V.CR0), V.read(pa, V.CR3), V.read(pa, V.CR4), V.read(pa, V.EFER)

    def set_cr2(self, value):
        """The guest's CR2, which VMRUN loads from the VMCB (Table B-2)."""
        self.vmcb.put(V.CR2, value)

    def clear_shadow(self):
        V.write(self._pa, V.INTERRUPT_STATE, 0)

    def insn_bytes(self):
        """The bytes of the instruction behind a #NPF as the CPU fetched
        them (decode assists, APM2 15.33: the count in bits 3:0 of VMCB
        0x0D0, the bytes at 0x0D1; 0 when the fetch failed), or None."""
        if not self.decode_assists:
            return None
        n = V.read(self._pa, V.INSN_BYTES_FETCHED) & 0xF
        if not n:
            return None
        return self.io.mem(self._pa + V.INSN_BYTES, n)

    # -- events ---------------------------------------------------------------
    def inject_interrupt(self, vector):
        VCpu.inject_interrupt(self, vector)
        self._slow_entry = True

    def set_xcr0(self, value):
        """The guest's XCR0, loaded around VMRUN when it differs from the
        host's (SVM does not switch XCR0)."""
        self.xcr0 = value
        self._slow_entry = True

    def _inject_exception(self, vector, error_code):
        # EVENTINJ, its EV bit set with an error code (APM2 15.20); which
        # vectors push one is VCpu.inject_exception's rule.
        self.vmcb.put(V.EVENTINJ, defs.event(vector, defs.EVENT_TYPE_EXCEPTION, error_code))

    def _protected_mode(self):
        return self.vmcb.get(V.CR0) & _CR0_PE

    def _events_changed(self):
        self._slow_entry = True

    def _deliver_nmi(self):
        # EVENTINJ type NMI (APM2 15.20) unless another event goes in or the
        # last NMI's handler runs: SVM leaves the guest's NMI masking to the
        # VMM (as KVM: IRET intercepted, APM2 15.9). The mask lifts once the
        # guest is past that IRET (its RIP moved on from it).
        v = self.vmcb
        if self._nmi_masked:
            if self._iret_rip is None or v.get(V.RIP) == self._iret_rip:
                return
            self._nmi_masked, self._iret_rip = False, None
        if v.get(V.EVENTINJ) & defs.EVENT_VALID:
            return
        v.put(V.EVENTINJ, defs.event(2, defs.EVENT_TYPE_NMI))
        self._nmi_pending, self._nmi_masked = False, True
        v.put(V.INTERCEPT_MISC1, v.get(V.INTERCEPT_MISC1) | defs.INTERCEPT_IRET)

    def iret_seen(self):
        # The IRET intercept (hv.vcpu.svm.exits.iret): the NMI handler ends
        # with this instruction, which runs at the next VMRUN.
        v = self.vmcb
        v.put(V.INTERCEPT_MISC1, v.get(V.INTERCEPT_MISC1) & ~defs.INTERCEPT_IRET)
        self._iret_rip = v.get(V.RIP)
        if self._nmi_pending:
            self._slow_entry = True

    def _deliver_interrupts(self):
        # EVENTINJ when the guest can take an interrupt now; otherwise a
        # virtual interrupt (V_IRQ) with the VINTR intercept as the window.
        v = self.vmcb
        if (not v.get(V.EVENTINJ) & defs.EVENT_VALID and v.get(V.RFLAGS) & _RFLAGS_IF
                and not v.get(V.INTERRUPT_STATE) & defs.INTERRUPT_SHADOW):
            v.put(V.EVENTINJ, defs.event(self._irq_queue.pop(0), defs.EVENT_TYPE_INTR))
            if not self._irq_queue:
                return
        v.put(V.VINTR, defs.V_INTR_MASKING | defs.V_IRQ | defs.V_IGN_TPR
              | 0xF << defs.V_INTR_PRIO_SHIFT | v.get(V.VINTR) & defs.V_TPR_MASK)
        v.put(V.INTERCEPT_MISC1, v.get(V.INTERCEPT_MISC1) | defs.INTERCEPT_VINTR)
        # A MOV CR8 while V_IRQ is set crashes QEMU 7.2 TCG (its CR8 helper
        # raises the virtual interrupt without the iothread lock): it exits.
        self.tpr_window(0)

    def close_window(self):
        v = self.vmcb
        v.put(V.VINTR, defs.V_INTR_MASKING | v.get(V.VINTR) & defs.V_TPR_MASK)
        v.put(V.INTERCEPT_MISC1, v.get(V.INTERCEPT_MISC1) & ~defs.INTERCEPT_VINTR)
        v.put(V.INTERCEPT_CR, v.get(V.INTERCEPT_CR) & ~defs.INTERCEPT_CR8_WRITE)

    def cr8_access(self):
        # With V_INTR_MASKING the guest's MOV CR8 reads and writes V_TPR
        # without an exit (APM2 15.21.1, 15.21.2): the value lives in the VMCB.
        return (self._get_vtpr, self._set_vtpr)

    def _get_vtpr(self):
        return self.vmcb.get(V.VINTR) & defs.V_TPR_MASK

    def _set_vtpr(self, value):
        v = self.vmcb
        v.put(V.VINTR, v.get(V.VINTR) & ~defs.V_TPR_MASK | value & defs.V_TPR_MASK)

    def tpr_window(self, priority):
        """MOV to CR8 exits (the CR8-write intercept, APM2 15.9) until the
        next window closes, as KVM's update_cr8_intercept does while TPR
        holds a vector back: hv.vcpu.svm.exits.cr8_write calls tpr_hook."""
        v = self.vmcb
        v.put(V.INTERCEPT_CR, v.get(V.INTERCEPT_CR) | defs.INTERCEPT_CR8_WRITE)

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

    def unbind(self):
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
        cached = self.vm.cpuid.cached
        k, limit = 0, self.run_slice or 0   # exits in this call; 0: no slice
        f = self._fast_served
        s0 = f() if f is not None else 0    # exits the natives' fast path serves
        while True:
            if limit and (k >= limit or f is not None and k and not k & 63 and k + f() - s0 >= limit):
                # A storm of exits handled here or by the natives' fast path
                # (CPUID, ...): let the caller look at its budgets now and then.
                return self._nothing(k, s0)
            # The common case is one native call; interrupts to deliver, a
            # TLB flush and a guest XCR0 take the slow entry.
            clock = self.clock              # set only while a guest timer counts
            if self._slow_entry:
                code = self._enter_slow(clock)
            else:
                if clock is not None:
                    clock.entering()
                code = enter(pa, gprs, host)
            if clock is not None:
                clock.exited()
            k += 1
            if code == _VMEXIT_CPUID:
                # The hottest exit, without a handler call: a cached answer
                # in one viper call (exits.cpuid does the rest).
                done = step(pa, gprs, cached, ncr3, table, nrips)
                if done >= 0:
                    if not done:
                        self.skip_slow()
                    continue
            handler = get(code)
            if handler is None:
                raise UnexpectedExit("unexpected #VMEXIT %#x (%s)\n%s"
                                     % (code, defs.exit_name(code), self.vmcb.dump()))
            e = handler(self)
            if e is not None:
                self._count(k, s0)
                return e

    def control_regs(self):
        """(cr0, cr3, cr4, efer without SVME, code size) from the VMCB."""
        v = self.vmcb
        cs = v.get(V.CS_ATTRIB)             # L is bit 9, D/B bit 10 (15.5.1)
        efer = v.get(V.EFER) & ~defs.EFER_SVME
        bits = 64 if cs & 0x200 and efer & defs.EFER_LMA else 32 if cs & 0x400 else 16
        return v.get(V.CR0), v.get(V.CR3), v.get(V.CR4), efer, bits

    def _enter_slow(self, clock=None):
        # The slow entry's Python is the VMM's time: the guest's starts at
        # VMRUN (clock.entering() there, not before).
        v = self.vmcb
        if self._nmi_pending:
            self._deliver_nmi()
        if self._irq_queue:
            self._deliver_interrupts()
        flush = self._tlb_flush
        if flush:
            v.put(V.TLB_CONTROL, self.percpu.flush_command())
        swap = self.xcr0 != self.host_xcr0
        if swap:
            self.io.xsetbv(0, self.xcr0)
        if clock is not None:
            clock.entering()
        code = self.native.run(self._pa, self.gprs, self.percpu.host_area_pa)
        if swap:
            self.io.xsetbv(0, self.host_xcr0)
        if flush:
            v.put(V.TLB_CONTROL, defs.TLB_CONTROL_NOTHING)   # VMRUN does not clear it
            self._tlb_flush = False
        self._slow_entry = swap or bool(self._irq_queue) or self._nmi_pending
        return code

    def requeue_event(self):
        """An exit that cut event delivery short (EXITINTINFO valid) gets the
        event injected again at the next entry (APM2 15.7.2). Handlers of
        exits other than instruction intercepts call this first."""
        info = self.vmcb.get(V.EXITINTINFO)
        if info & defs.EVENT_VALID:
            self.vmcb.put(V.EVENTINJ, info)

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
