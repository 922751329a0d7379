# The VMX vCPU (x86_vcpu's AxArchVCpu for Intel): VMCS and structures,
# intercepts, EPT/VPID flushes, stepping RIP and the run loop; registers in
# hv.vcpu.vmx.state, events in .events; controls, host state, modes, CRs and
# exits in their own hv.vcpu.vmx modules. Bare metal and CPython (fakes).
from hv.x86.bits import EFER_LMA
from hv.x86 import regs
from hv.host.cpu import rdmsr_or_none
from hv.host.frame import PhysFrame
from hv.x86.guest_tables import SEL_CODE, TABLES_GPA
from hv.x86.msr import (IA32_EFER, IA32_FS_BASE, IA32_GS_BASE, IA32_KERNEL_GS_BASE, IA32_STAR,
                    IA32_LSTAR, IA32_CSTAR, IA32_FMASK, IA32_SYSENTER_CS, IA32_SYSENTER_ESP,
                    IA32_SYSENTER_EIP)
from hv.vcpu.api import NO_SLICE, VCpu, UnexpectedExit
from hv.vcpu.vmx.events import VmxEvents
from hv.vcpu.vmx.state import VmxState
from hv.npt import ept
from hv.vcpu.vmx import controls, cr, defs, exits, fields as F, host, modes, names, percpu
from hv.vcpu.vmx.structs import IoBitmaps, MsrAreas, MsrBitmap
from hv.vcpu.vmx.vmcs import Vmcs

# MSRs the VMCS switches (guest-state area, SDM 3C 25.4.1) or the MSR areas
# do (structs.MsrAreas): safe to leave to the guest, as SVM's VMLOAD set.
_AREA_MSRS = (IA32_STAR, IA32_LSTAR, IA32_CSTAR, IA32_FMASK, IA32_KERNEL_GS_BASE)
_PASSTHROUGH_MSRS = _AREA_MSRS + (IA32_FS_BASE, IA32_GS_BASE, IA32_SYSENTER_CS,
                                  IA32_SYSENTER_ESP, IA32_SYSENTER_EIP)


class VmxVCpu(VmxState, VmxEvents, VCpu):
    NATIVE = "vmx"                                  # the back end's natives module
    # Exits that can interrupt the delivery of an event through the IDT, the
    # only ones whose IDT-vectoring information can be valid (SDM 3C 28.2.4):
    # exception or NMI, external interrupt, triple fault, task switch, APIC
    # access, EPT violation and misconfiguration, PML full, SPP. Exits caused
    # by an instruction (CPUID, I/O, ...) cannot.
    DELIVERY_EXITS = frozenset((0, 1, 2, 9, 44, 48, 49, 62, 66))

    def __init__(self, vm, allocator, io=None, native=None):
        super().__init__(vm, allocator, io, native)
        io, native = self.io, self.native
        self.percpu = percpu.acquire(allocator, io, native, rdmsr_or_none(io))
        caps = self.caps = self.percpu.caps
        self._frame = self.io_bitmaps = self.msr_bitmap = self.msr_areas = None
        self.vpid = self.vmcs = None
        try:
            self._frame = PhysFrame.alloc(allocator)
            self.io_bitmaps = IoBitmaps(allocator)
            self.msr_bitmap = MsrBitmap(allocator)
            self.msr_areas = MsrAreas(allocator, _AREA_MSRS, [io.rdmsr(m) for m in _AREA_MSRS])
            if caps.can(caps.secondary, defs.SEC_ENABLE_VPID):
                self.vpid = self.percpu.alloc_vpid()
            self.vmcs = Vmcs(self._frame.start_paddr, caps.revision, native, io.mem)
        except BaseException:
            self.close()
            raise
        self.gprs = regs.new_gprs()
        self.eptp = 0
        self._bound = False
        self._init_entry(io)                    # a reused VPID/EPTP starts with a flush
        self._entry = 0
        self._mode = None
        self._internal_msrs = {IA32_EFER: True}
        self.tpr = 0                            # guest CR8 (hv.vcpu.vmx.cr)
        self._window = False                    # interrupt-window exiting is on
        self._nmi_window = False                # NMI-window exiting is on
        self.virtual_nmis = False               # controls.write_controls: the CPU has them
        try:                                    # a control the CPU refuses: frames back
            self.percpu.make_current(self.vmcs)
            controls.write_controls(self)
            for msr in _PASSTHROUGH_MSRS:
                self.msr_bitmap.set(msr, False, False)
            host.write_host_state(self.vmcs, io, native)
        except BaseException:
            self.close()
            raise

    def _vmcs(self):
        """This vCPU's VMCS, made current (one VMCS is current per CPU)."""
        v = self.vmcs
        if v is None:
            raise ValueError("vCPU is closed")
        self.percpu.make_current(v)
        return v

    # -- EPT, VPID, intercepts (SDM 3C 25.6) -------------------------------
    def set_ept_root(self, paddr):
        """EPT root: EPTP (25.6.11) with write-back structures and A/D flags
        only where IA32_VMX_EPT_VPID_CAP allows them."""
        self.eptp = ept.eptp_for(paddr, self.caps.ept_vpid)
        self._vmcs().write64(F.EPT_POINTER, self.eptp)
        self.flush_tlb()

    def _flush_begin(self):
        # INVEPT and INVVPID before the entry (SDM 3C 29.4.3.3), for
        # hv.vcpu.entry's flush_tlb().
        c, n = self.caps, self.native
        if c.ept(defs.EPT_CAP_INVEPT_SINGLE):
            n.invept(defs.INVEPT_SINGLE_CONTEXT, self.eptp)
        else:
            n.invept(defs.INVEPT_ALL_CONTEXT, 0)
        self.flush_guest_tlb()

    def flush_guest_tlb(self):
        """INVVPID: drop the guest's linear and combined mappings, as a MOV
        to CR3/CR0/CR4 the vCPU emulated would have (29.4.3.3)."""
        if self.vpid is None:
            return                              # VPID 0: every entry and exit flushes
        if self.caps.ept(defs.VPID_CAP_INVVPID_SINGLE):
            self.native.invvpid(defs.INVVPID_SINGLE_CONTEXT, self.vpid, 0)
        else:
            self.native.invvpid(defs.INVVPID_ALL_CONTEXT, 0, 0)

    def set_io_intercept(self, port, count, on):
        """on: IN/OUT on these ports exit as IoRead/IoWrite (the default for
        every port); off: they reach the hardware directly."""
        self.io_bitmaps.set(port, count, on)

    def set_msr_intercept(self, msr, read, write):
        """read/write True: RDMSR/WRMSR exit as SysRegRead/SysRegWrite;
        False: the guest uses the real MSR. Default: every MSR intercepted
        except those the VMCS or MSR areas switch; EFER is emulated inside
        unless the caller asks for it here."""
        self.msr_bitmap.set(msr, read, write)
        self._internal_msrs.pop(msr, None)

    # -- guest state for the three modes (SDM 3C 25.4, checks 27.3.1) ---------
    def set_entry(self, gpa):
        self._entry = gpa
        if self._mode is not None:
            modes.set_entry(self._vmcs(), self._mode, gpa)

    def setup(self, mode, tables=TABLES_GPA, code_sel=SEL_CODE):
        """Guest state for mode 'real' (CS:IP at the entry, unrestricted
        guest), 'protected' (flat 32-bit segments, paging off) or 'long'
        (64-bit, identity-mapped by tables this writes at `tables`). The
        GDT there has code at code_sel and data at code_sel + 8."""
        if mode not in self.MODES:
            raise ValueError("mode must be one of %s" % (self.MODES,))
        v = self._vmcs()
        cr0, cr3, cr4, efer = modes.setup(v, self.vm, mode, tables, code_sel)
        cr.set_cr0(self, cr0)
        cr.set_cr4(self, cr4)
        v.writen(F.GUEST_CR3, cr3)
        v.write64(F.GUEST_IA32_EFER, efer)
        controls.set_ia32e(self, bool(efer & EFER_LMA))
        self._mode = mode
        self.set_entry(self._entry)

    def set_preemption_timer(self, ticks):
        """Exit after `ticks` of the VMX-preemption timer (TSC >> IA32_VMX_MISC
        [4:0], SDM 3C 26.5.1), counted afresh at every entry; run() then
        returns 'Nothing'. None turns the timer off."""
        c, v = self.caps, self._vmcs()
        if not c.can(c.pin, defs.PIN_PREEMPTION_TIMER):
            raise NotImplementedError("this CPU has no VMX-preemption timer")
        if ticks is None:
            v.clear_bits32(F.PIN_BASED_VM_EXEC_CONTROL, defs.PIN_PREEMPTION_TIMER)
            return
        v.write32(F.VMX_PREEMPTION_TIMER_VALUE, ticks)
        v.set_bits32(F.PIN_BASED_VM_EXEC_CONTROL, defs.PIN_PREEMPTION_TIMER)

    # -- running --------------------------------------------------------------
    def skip_instruction(self, length=None):
        """RIP past the instruction that exited, by the VM-exit instruction
        length (25.9.4; vmx.skip) unless the caller decoded it; either way
        blocking by STI or MOV SS ends with the instruction."""
        if length is None:
            self.native.skip()
            return
        v = self.vmcs
        v.writen(F.GUEST_RIP, v.readn(F.GUEST_RIP) + length)
        s = v.read32(F.GUEST_INTERRUPTIBILITY_INFO)
        if s & (defs.BLOCKING_BY_STI | defs.BLOCKING_BY_MOV_SS):
            v.write32(F.GUEST_INTERRUPTIBILITY_INFO, s & ~3)

    def bind(self):
        """Make this vCPU's VMCS current on this CPU (VMPTRLD)."""
        self._vmcs()
        self._bound = True
        self._bind_natives(True)

    def unbind(self):
        self._bind_natives(False)
        self._bound = False

    def run(self):
        """Run the guest until an exit the caller must see; its record."""
        self._check_runnable()
        v = self._vmcs()
        if self._replay is not None:        # an emulated instruction an exit paused
            e = self._resume()
            if e is not None:
                self.exits += 1
                return e
        gprs = self.gprs
        enter = self.native.run
        fail = self.native.VMXFail
        delivery = self.DELIVERY_EXITS
        k, limit = 0, self.run_slice or 0   # exits in this call; 0: no slice
        f = self._fast_served
        s0 = f() if f is not None else 0    # exits the natives serve
        fio = self.fast_io
        collected = fio.count               # bytes the natives took at a fast OUT port
        slow, left = self._slow, self._left
        left[0] = limit or NO_SLICE         # what the natives may serve of the slice
        while True:
            if limit and k >= left[0]:
                # A storm of exits handled here or by the natives (tier one,
                # CPUID, ...): let the caller look at its budgets now and then.
                return self._nothing(k, s0)
            k += 1
            # The common case is one native call; interrupts to deliver, a
            # TLB flush and a guest XCR0 take the slow entry (hv.vcpu.entry).
            try:
                if slow[0]:
                    reason = self._enter_slow()
                else:
                    reason = enter(gprs, v.launched, self.clock)
            except fail as e:
                self._count(k, s0)
                return exits.vm_fail(self, e.error)
            if collected[0]:
                fio.drain()                 # before anything else sees this exit
            if reason & defs.EXIT_REASON_FAILED_ENTRY:
                self._count(k, s0)
                return exits.failed_entry(self, reason)
            v.launched = True
            basic = reason & defs.EXIT_REASON_BASIC_MASK
            if basic in delivery:
                self.requeue_event()
            handler = exits.HANDLERS.get(basic)
            if handler is None:
                raise UnexpectedExit("unexpected VM exit %d (%s)\n%s"
                                     % (reason, names.exit_name(reason), v.dump()))
            e = handler(self)
            if e is not None:
                self._count(k, s0)
                return e

    def _enter(self):
        # One VMLAUNCH or VMRESUME (hv.vcpu.entry._enter_slow calls it).
        return self.native.run(self.gprs, self.vmcs.launched, self.clock)

    def _flush_end(self):
        pass

    def set_watchdog(self, cycles):
        """The VMX-preemption timer (SDM 3C 26.5.1), counting TSC >> IA32_VMX_MISC[4:0]
        from its VMCS value afresh at every entry: a guest that neither exits
        nor lets interrupts exit (Bochs gates them by the guest's IF) comes
        back as 'Nothing'. False without the timer."""
        c = self.caps
        if not c.can(c.pin, defs.PIN_PREEMPTION_TIMER):
            return False
        if cycles is None:
            self.set_preemption_timer(None)
        else:
            rate = c.misc & defs.MISC_PREEMPTION_TIMER_RATE_MASK
            self.set_preemption_timer(max(1, min(cycles >> rate, 0xFFFFFFFF)))
        return True

    def relaunch(self):
        """After a failed entry: VMCLEAR and VMPTRLD, so the next entry is a
        VMLAUNCH of a clear VMCS whatever state the failure left."""
        v = self.vmcs
        v.clear()
        self.percpu.forget(v)
        self.percpu.make_current(v)

    def close(self):
        """Return every frame and the VPID (vm.close() calls this)."""
        if self.vmcs is not None and self.percpu is not None:
            self.vmcs.clear()
            self.percpu.forget(self.vmcs)
        for obj in (self._frame, self.io_bitmaps, self.msr_bitmap, self.msr_areas):
            if obj is not None:
                obj.close()
        if self.vpid is not None:
            self.percpu.free_vpid(self.vpid)
            self.vpid = None
        if self.percpu is not None:
            percpu.release(self.percpu)
            self.percpu = None
        self._frame = self.io_bitmaps = self.msr_bitmap = self.msr_areas = self.vmcs = None
        self._bound = False
