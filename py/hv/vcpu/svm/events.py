# SVM event injection (APM2 15.20): exceptions through EVENTINJ, external
# interrupts through EVENTINJ when the guest can take one and V_IRQ with the
# VINTR intercept as the window otherwise (15.21), and requeueing an event an
# exit cut short (15.7.2). Mixed into SvmVCpu; bare metal and CPython.
from hv.x86.bits import CR0_PE, RFLAGS_IF
from hv.vcpu.svm import defs, vmcb as V


class SvmEvents:
    def _inject_exception(self, vector, error_code):
        # EVENTINJ, its EV bit set with an error code (APM2 15.20); which
        # vectors push one is VCpu.inject_exception's rule.
        self.vmcb.put(V.EVENTINJ, defs.event(vector, defs.EVENT_TYPE_EXCEPTION, error_code))

    def _protected_mode(self):
        return self.vmcb.get(V.CR0) & CR0_PE

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
              | 0xF << defs.V_INTR_PRIO_SHIFT)
        v.put(V.INTERCEPT_MISC1, v.get(V.INTERCEPT_MISC1) | defs.INTERCEPT_VINTR)

    def close_window(self):
        v = self.vmcb
        v.put(V.VINTR, defs.V_INTR_MASKING)
        v.put(V.INTERCEPT_MISC1, v.get(V.INTERCEPT_MISC1) & ~defs.INTERCEPT_VINTR)

    def requeue_event(self):
        """An exit that cut event delivery short (EXITINTINFO valid) gets the
        event injected again at the next entry (APM2 15.7.2). run() calls it
        after every exit in DELIVERY_EXITS."""
        info = self.vmcb.get(V.EXITINTINFO)
        if info & defs.EVENT_VALID:
            self.vmcb.put(V.EVENTINJ, info)
