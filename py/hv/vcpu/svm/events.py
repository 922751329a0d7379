# SVM event injection (APM2 15.20): exceptions through EVENTINJ, external
# interrupts through EVENTINJ when the guest can take one and V_IRQ with the
# VINTR intercept as the window otherwise (15.21), and requeueing an event an
# exit cut short (15.7.2). Mixed into SvmVCpu; bare metal and CPython.
from hv.x86.bits import CR0_PE, RFLAGS_IF
from hv.vcpu.entry import SLOW_WORK
from hv.vcpu.svm import defs, vmcb as V


class SvmEvents:
    def _inject_exception(self, vector, error_code):
        # EVENTINJ, its EV bit set with an error code (APM2 15.20); which
        # vectors push one is VCpu.inject_exception's rule.
        self.vmcb.put(V.EVENTINJ, defs.event(vector, defs.EVENT_TYPE_EXCEPTION, error_code))

    def _protected_mode(self):
        return self.vmcb.get(V.CR0) & CR0_PE

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
            self._slow[0] |= SLOW_WORK

    def _deliver_interrupts(self):
        # EVENTINJ when the guest can take an interrupt now; otherwise a
        # virtual interrupt (V_IRQ) with the VINTR intercept as the window.
        v = self.vmcb
        if (not v.get(V.EVENTINJ) & defs.EVENT_VALID and v.get(V.RFLAGS) & RFLAGS_IF
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

    def requeue_event(self):
        """An exit that cut event delivery short (EXITINTINFO valid) gets the
        event injected again at the next entry (APM2 15.7.2). run() calls it
        after every exit in DELIVERY_EXITS."""
        info = self.vmcb.get(V.EXITINTINFO)
        if info & defs.EVENT_VALID:
            self.vmcb.put(V.EVENTINJ, info)
