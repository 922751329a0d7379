# VMX event injection (SDM 3C 25.8.3, 27.6): exceptions and external
# interrupts through the VM-entry interruption information when the guest can
# take one, interrupt-window exiting otherwise (25.6.2), and redelivering an
# event an exit cut short (28.2.4). Mixed into VmxVCpu; bare metal and CPython.
from hv.x86.bits import CR0_PE, RFLAGS_IF
from hv.vcpu.vmx import defs, fields as F


class VmxEvents:
    def _inject_exception(self, vector, error_code):
        # The VM-entry interruption information and error code (25.8.3);
        # which vectors push one is VCpu.inject_exception's rule (27.2.1.3).
        v = self._vmcs()
        push = error_code is not None
        v.write32(F.VM_ENTRY_INTR_INFO, defs.intr_info(vector, defs.INTR_TYPE_HW_EXCEPTION, push))
        if push:
            v.write32(F.VM_ENTRY_EXCEPTION_ERROR_CODE, error_code)

    def _protected_mode(self):
        # The guest-state CR0, which VM entry checks (27.2.1.3), not the shadow.
        return self._vmcs().readn(F.GUEST_CR0) & CR0_PE

    def _deliver_nmi(self):
        # An NMI in the VM-entry interruption information (25.8.3) when no
        # other event goes in and the guest blocks none (NMI, STI, MOV SS:
        # 27.3.1.5); otherwise NMI-window exiting (25.6.2) where the CPU has
        # virtual NMIs, which also end the blocking at the guest's IRET. Without
        # them the NMI waits.
        v = self.vmcs
        if v.read32(F.VM_ENTRY_INTR_INFO) & defs.INTR_VALID:
            return
        if v.read32(F.GUEST_INTERRUPTIBILITY_INFO) & (defs.BLOCKING_BY_NMI | defs.BLOCKING_BY_STI
                                                      | defs.BLOCKING_BY_MOV_SS):
            if self.virtual_nmis and not self._nmi_window:
                v.set_bits32(F.CPU_BASED_VM_EXEC_CONTROL, defs.CPU_NMI_WINDOW_EXITING)
                self._nmi_window = True
            return
        v.write32(F.VM_ENTRY_INTR_INFO, defs.intr_info(2, defs.INTR_TYPE_NMI))
        self._nmi_pending = False

    def close_nmi_window(self):
        self.vmcs.clear_bits32(F.CPU_BASED_VM_EXEC_CONTROL, defs.CPU_NMI_WINDOW_EXITING)
        self._nmi_window = False

    def _deliver_interrupts(self):
        # Inject when the guest can take an interrupt now (RFLAGS.IF, no
        # STI/MOV SS blocking, nothing else injected); otherwise open the
        # interrupt window (25.6.2) and inject at its exit.
        v = self.vmcs
        if (not v.read32(F.VM_ENTRY_INTR_INFO) & defs.INTR_VALID
                and v.readn(F.GUEST_RFLAGS) & RFLAGS_IF
                and not v.read32(F.GUEST_INTERRUPTIBILITY_INFO)
                & (defs.BLOCKING_BY_STI | defs.BLOCKING_BY_MOV_SS)):
            v.write32(F.VM_ENTRY_INTR_INFO,
                      defs.intr_info(self._irq_queue.pop(0), defs.INTR_TYPE_EXTERNAL))
            if not self._irq_queue:
                if self._window:
                    self.close_window()
                return
        if not self._window:
            v.set_bits32(F.CPU_BASED_VM_EXEC_CONTROL, defs.CPU_INTERRUPT_WINDOW_EXITING)
            self._window = True

    def cr8_access(self):
        # CR8 loads and stores exit (hv.vcpu.vmx.controls): the value is self.tpr.
        return (self._get_tpr, self._set_tpr)

    def _get_tpr(self):
        return self.tpr

    def _set_tpr(self, value):
        self.tpr = value & 0xF

    def close_window(self):
        self.vmcs.clear_bits32(F.CPU_BASED_VM_EXEC_CONTROL, defs.CPU_INTERRUPT_WINDOW_EXITING)
        self._window = False

    def requeue_event(self):
        """An exit during event delivery (IDT-vectoring information valid,
        SDM 3C 28.2.4): deliver the event again at the next entry (27.6).
        run() calls it after every exit in DELIVERY_EXITS."""
        v = self.vmcs
        info = v.read32(F.IDT_VECTORING_INFO)
        if not info & defs.INTR_VALID:
            return
        v.write32(F.VM_ENTRY_INTR_INFO, info & 0x80000FFF)     # bits 30:12 reserved on entry
        if info & defs.INTR_ERROR_CODE_VALID:
            v.write32(F.VM_ENTRY_EXCEPTION_ERROR_CODE, v.read32(F.IDT_VECTORING_ERROR_CODE))
        if (info >> defs.INTR_TYPE_SHIFT) & 7 >= defs.INTR_TYPE_SOFT_INTR:
            v.write32(F.VM_ENTRY_INSTRUCTION_LEN, v.read32(F.VM_EXIT_INSTRUCTION_LEN))
