# Host tests for the VMX vCPU over fake hw/vmx natives (vmx_fakes.py): VMX
# on/off, TRUE-MSR controls, host and guest state passing the entry checks,
# and the exits: RIP by the exit's instruction length, I/O at its width, CR
# accesses, EPT faults, named entry failures, injection, re-injection, flushes.
import pytest

from hv.x86.regs import RAX, RBX, RCX, RDX, RSI, RDI, R8, R9, R10, R11, RSP
from hv.vcpu.api import UnexpectedExit
from hv.vcpu.vmx import checks, defs, fields as F, percpu
from vmx_fakes import MiB, TSS_BASE, Machine, exit_with

CR4_VMXE = 1 << 13


@pytest.fixture(autouse=True)
def _fresh_percpu():
    percpu._owner.state = None
    yield
    percpu._owner.state = None


def vcpu(m, mode="long", **kw):
    vm = m.vm(16 * MiB, **kw)
    c = vm.new_vcpu()
    c.set_entry(0x10000)
    c.setup(mode)
    c.bind()
    return vm, c


def vmcs(m):
    return m.vmx.vmcs[m.vmx.current]


# -- VMX operation on this CPU -------------------------------------------------
def test_enter_and_leave_vmx_operation():
    m = Machine()
    free0 = m.allocator.free_count()
    cr4_before = m.hw.cr4_value
    vm, c = vcpu(m)
    assert m.hw.cr4_value & CR4_VMXE and m.vmx.vmxon_pa == c.percpu.vmxon_pa
    assert m.hw.cr0_value & 0x80000021 == 0x80000021               # IA32_VMX_CR0_FIXED0
    c2 = vm.new_vcpu()
    assert c2.vpid not in (None, 0, c.vpid) and c.percpu.users == 2
    vm.close()
    assert m.vmx.vmxon_pa is None and m.hw.cr4_value == cr4_before
    assert m.allocator.free_count() == free0


def test_unlocked_feature_control_is_locked_with_vmx_on():
    m = Machine()
    m.hw.msrs[0x3A] = 0
    vcpu(m)[0].close()
    assert m.hw.msrs[0x3A] == 0x5


def test_firmware_lock_with_vmx_off_gives_a_clear_message():
    m = Machine()
    m.hw.msrs[0x3A] = 0x1
    with pytest.raises(percpu.VmxError, match="disabled by firmware.*enable Intel VT-x"):
        m.vm().new_vcpu()


def test_controls_come_from_the_true_msrs():
    m = Machine()
    vm, c = vcpu(m)
    cpu = vmcs(m)[F.CPU_BASED_VM_EXEC_CONTROL]
    assert not cpu & (defs.CPU_CR3_LOAD_EXITING | defs.CPU_CR3_STORE_EXITING)
    for bit in (defs.CPU_HLT_EXITING, defs.CPU_CR8_LOAD_EXITING, defs.CPU_CR8_STORE_EXITING,
                defs.CPU_USE_IO_BITMAPS, defs.CPU_USE_MSR_BITMAPS, defs.CPU_ACTIVATE_SECONDARY):
        assert cpu & bit
    v = vmcs(m)
    assert v[F.PIN_BASED_VM_EXEC_CONTROL] & 0x9 == 0x9                 # ext. interrupts, NMIs
    sec = v[F.SECONDARY_VM_EXEC_CONTROL]
    assert sec & (defs.SEC_ENABLE_EPT | defs.SEC_UNRESTRICTED_GUEST | defs.SEC_ENABLE_VPID)
    assert v[F.VM_EXIT_CONTROLS] & defs.EXIT_ACK_INTERRUPT_ON_EXIT
    assert v[F.VM_EXIT_CONTROLS] & defs.EXIT_HOST_ADDR_SPACE_SIZE
    assert v[F.VMCS_LINK_POINTER] == 0xFFFFFFFFFFFFFFFF
    assert v[F.EPT_POINTER] == vm.npt.root | 0x5E                      # WB, 4 levels, A/D
    assert checks.control_failures(c) == []
    vm.close()


def test_without_true_msrs_the_forced_controls_stay():
    m = Machine()
    m.hw.msrs[0x480] &= ~(1 << 55)
    vm, c = vcpu(m)
    cpu = vmcs(m)[F.CPU_BASED_VM_EXEC_CONTROL]
    assert cpu & defs.CPU_CR3_LOAD_EXITING and cpu & defs.CPU_CR3_STORE_EXITING
    vm.close()


def test_missing_control_is_named():
    with pytest.raises(percpu.VmxError, match="secondary: this CPU cannot set 0x80"):
        percpu.adjust_controls(0x2 << 32, 0x82, what="secondary")
    assert percpu.adjust_controls(0x16 | 0x7F << 32, 0x9) == 0x1F


def test_accessed_dirty_off_without_the_capability():
    m = Machine()
    m.hw.msrs[0x48C] &= ~defs.EPT_CAP_ACCESSED_DIRTY
    vm, c = vcpu(m)
    assert vmcs(m)[F.EPT_POINTER] == vm.npt.root | 0x1E
    vm.close()


def test_host_state():
    m = Machine()
    vm, c = vcpu(m)
    v = vmcs(m)
    assert (v[F.HOST_CS_SELECTOR], v[F.HOST_SS_SELECTOR], v[F.HOST_TR_SELECTOR]) == (8, 0x10, 0x18)
    assert v[F.HOST_TR_BASE] == TSS_BASE and v[F.HOST_FS_BASE] == 0x178EA0
    assert v[F.HOST_CR4] & CR4_VMXE and v[F.HOST_IA32_EFER] == 0x500
    assert checks.host_failures(c) == []
    vm.close()


@pytest.mark.parametrize("mode", ["real", "protected", "long"])
def test_guest_state_passes_the_entry_checks(mode):
    m = Machine()
    vm, c = vcpu(m, mode)
    v = vmcs(m)
    assert checks.guest_failures(c) == []
    assert bool(v[F.VM_ENTRY_CONTROLS] & defs.ENTRY_IA32E_MODE_GUEST) == (mode == "long")
    assert v[F.CR0_READ_SHADOW] & 1 == (mode != "real")
    assert v[F.GUEST_CR4] & CR4_VMXE and not v[F.CR4_READ_SHADOW] & CR4_VMXE
    if mode == "real":
        assert (v[F.GUEST_CS_SELECTOR], v[F.GUEST_CS_BASE], v[F.GUEST_RIP]) == (0x1000, 0x10000, 0)
    else:
        assert v[F.GUEST_RIP] == 0x10000
    vm.close()


def test_bad_guest_state_is_named():
    m = Machine()
    vm, c = vcpu(m, "protected")
    v = vmcs(m)
    v[F.GUEST_TR_AR_BYTES] = 0x89                  # an available, not busy, TSS
    v[F.VMCS_LINK_POINTER] = 0
    found = checks.guest_failures(c)
    assert "guest TR access rights 0x89 are not a present busy TSS" in found
    assert "VMCS link pointer is not 0xFFFFFFFFFFFFFFFF" in found
    vm.close()


# -- exits ----------------------------------------------------------------------
def test_cpuid_is_answered_and_rip_advances_by_the_exit_length():
    m = Machine()
    vm, c = vcpu(m)
    c.gprs[RAX] = 0x40000000
    m.vmx.steps = [exit_with(defs.EXIT_CPUID, vm_exit_instruction_len=2),
                   exit_with(defs.EXIT_HLT, vm_exit_instruction_len=1)]
    assert c.run().reason == "Halt"
    assert (c.gprs[RBX], c.gprs[RCX], c.gprs[RDX]) == (0x6976706D, 0x00726F73, 0)
    assert c.rip == 0x10003
    vm.close()


def test_msr_exits_advance_rip_by_the_reported_length():
    m = Machine()
    vm, c = vcpu(m)
    c.gprs[RCX], c.gprs[RDX], c.gprs[RAX] = 0x4D500001, 0x12345678, 0x9ABCDEF0
    m.vmx.steps = [exit_with(defs.EXIT_WRMSR, vm_exit_instruction_len=3)]   # a prefixed WRMSR
    e = c.run()
    assert (e.reason, e.msr, e.value) == ("SysRegWrite", 0x4D500001, 0x123456789ABCDEF0)
    assert c.rip == 0x10003 and c.exit_rip == 0x10000
    m.vmx.steps = [exit_with(defs.EXIT_RDMSR, vm_exit_instruction_len=2)]
    e = c.run()
    assert (e.reason, e.msr) == ("SysRegRead", 0x4D500001)
    c.complete(0x1122334455667788)
    assert (c.gprs[RAX], c.gprs[RDX], c.rip) == (0x55667788, 0x11223344, 0x10005)
    vm.close()


def test_unemulated_msr_faults_at_the_instruction():
    m = Machine()
    vm, c = vcpu(m)
    c.gprs[RCX] = 0x4D500002
    m.vmx.steps = [exit_with(defs.EXIT_RDMSR, vm_exit_instruction_len=2)]
    c.run()
    c.fault(13, 0)
    assert c.rip == 0x10000
    v = vmcs(m)
    assert v[F.VM_ENTRY_INTR_INFO] == 0x80000B0D and v[F.VM_ENTRY_EXCEPTION_ERROR_CODE] == 0
    vm.close()


@pytest.mark.parametrize("q,width,rax,value,want", [
    (0x6000008, 1, 0x1122334455667788, 0xA5, 0x11223344556677A5),    # in al, dx
    (0x6000009, 2, 0x1122334455667788, 0xA5A5, 0x112233445566A5A5),  # in ax, dx
    (0x600000B, 4, 0x1122334455667788, 0xA5A5A5A5, 0xA5A5A5A5),      # in eax, dx: zero-extends
])
def test_io_read_writes_only_its_width(q, width, rax, value, want):
    m = Machine()
    vm, c = vcpu(m)
    c.gprs[RAX] = rax
    m.vmx.steps = [exit_with(defs.EXIT_IO_INSTRUCTION, exit_qualification=q,
                             vm_exit_instruction_len=1)]
    e = c.run()
    assert (e.reason, e.port, e.width) == ("IoRead", 0x600, width)
    c.complete(value)
    assert c.gprs[RAX] == want and c.rip == 0x10001
    vm.close()


def test_io_write():
    m = Machine()
    vm, c = vcpu(m)
    c.gprs[RAX] = 0xFFFF1234
    m.vmx.steps = [exit_with(defs.EXIT_IO_INSTRUCTION, exit_qualification=0x12340001,
                             vm_exit_instruction_len=2)]
    e = c.run()
    assert (e.reason, e.port, e.width, e.data) == ("IoWrite", 0x1234, 2, 0x1234)
    vm.close()


def test_vmcall_and_vmmcall_are_hypercalls():
    m = Machine()
    vm, c = vcpu(m)
    for i, r in enumerate((RDI, RSI, RDX, RCX, R8, R9)):
        c.gprs[r] = i + 1
    c.gprs[RAX] = 1
    m.vmx.steps = [exit_with(defs.EXIT_VMCALL, vm_exit_instruction_len=3)]
    e = c.run()
    assert (e.reason, e.nr, e.args, c.rip) == ("Hypercall", 1, (1, 2, 3, 4, 5, 6), 0x10003)
    vm.write(0x10003, b"\x0f\x01\xd9\x0f\x0b")                      # vmmcall; ud2
    ud = exit_with(defs.EXIT_EXCEPTION_NMI, vm_exit_intr_info=defs.intr_info(6, 3))
    m.vmx.steps = [ud, ud, exit_with(defs.EXIT_HLT, vm_exit_instruction_len=1)]
    assert c.run().reason == "Hypercall" and c.rip == 0x10006
    assert c.run().reason == "Halt"
    assert m.vmx.entries[-1][0] == 0x80000306                       # #UD given back for ud2
    vm.close()


def test_cr_access_recorded_on_bochs():
    m = Machine()
    vm, c = vcpu(m)
    v = vmcs(m)
    cr0 = v[F.CR0_READ_SHADOW]
    c.gprs[RAX] = cr0 & ~0x20 | 0x8                               # NE off, TS on
    c.gprs[R10] = 5
    m.vmx.steps = [exit_with(defs.EXIT_CR_ACCESS, exit_qualification=q, vm_exit_instruction_len=n)
                   for q, n in ((0x0, 3), (0xA08, 4), (0xB18, 4), (0x20, 2), (0xFFF90030, 3),
                                (0xB0070, 7))]
    m.vmx.steps.append(exit_with(defs.EXIT_HLT, vm_exit_instruction_len=1))
    c.run()
    assert c.gprs[R11] == 5 and c.tpr == 5
    assert v[F.CR0_READ_SHADOW] == cr0 & ~0x2F | 0xB              # LMSW from [mem] = 0x000B
    assert v[F.GUEST_CR0] & 0x20                                   # NE stays on underneath
    assert c.rip == 0x10000 + 3 + 4 + 4 + 2 + 3 + 7 + 1
    vm.close()


def test_lmsw_cannot_clear_pe_and_clts_clears_ts():
    m = Machine()
    vm, c = vcpu(m, "protected")
    v = vmcs(m)
    m.vmx.steps = [exit_with(defs.EXIT_CR_ACCESS, exit_qualification=0xFFF00030),   # lmsw 0xFFF0
                   exit_with(defs.EXIT_CR_ACCESS, exit_qualification=0x00080030),   # lmsw 0x0008
                   exit_with(defs.EXIT_CR_ACCESS, exit_qualification=0x20),         # clts
                   exit_with(defs.EXIT_HLT)]
    shadows = []
    real = m.vmx.steps[:]
    m.vmx.steps = [lambda v_, g, s=s: (shadows.append(v_.get(F.CR0_READ_SHADOW)), s(v_, g))[1]
                   for s in real]
    c.run()
    assert shadows[1] & 0xF == 0x1 and shadows[2] & 0xF == 0x9 and v[F.CR0_READ_SHADOW] & 0xF == 1
    vm.close()


@pytest.mark.parametrize("q,gpr,value", [
    (0x4 | 3 << 8, RBX, (1 << 13) | 0x20),      # CR4.VMXE: VMX is hidden
    (0x8 | 3 << 8, RBX, 0x10),                  # CR8 above 15
    (0x0 | 3 << 8, RBX, 0x80000000),            # CR0.PG without PE
])
def test_bad_cr_writes_raise_gp(q, gpr, value):
    m = Machine()
    vm, c = vcpu(m)
    c.gprs[gpr] = value
    m.vmx.steps = [exit_with(defs.EXIT_CR_ACCESS, exit_qualification=q, vm_exit_instruction_len=3),
                   exit_with(defs.EXIT_HLT, vm_exit_instruction_len=1)]
    c.run()
    assert m.vmx.entries[1][0] == 0x80000B0D and c.rip == 0x10001
    vm.close()


def test_paging_on_with_lme_enters_long_mode():
    m = Machine()
    vm, c = vcpu(m, "protected")
    v = vmcs(m)
    v[F.CR4_READ_SHADOW] = 0x20
    v[F.GUEST_IA32_EFER] = 0x100                                 # LME
    c.gprs[RAX] = v[F.CR0_READ_SHADOW] | 1 << 31
    m.vmx.steps = [exit_with(defs.EXIT_CR_ACCESS, exit_qualification=0), exit_with(defs.EXIT_HLT)]
    c.run()
    assert v[F.GUEST_IA32_EFER] == 0x500 and v[F.VM_ENTRY_CONTROLS] & defs.ENTRY_IA32E_MODE_GUEST
    assert ("invvpid", 1, c.vpid) in m.vmx.flushes
    vm.close()


def test_efer_is_emulated():
    m = Machine()
    vm, c = vcpu(m)
    c.gprs[RCX] = 0xC0000080
    read = []
    m.vmx.steps = [exit_with(defs.EXIT_RDMSR, vm_exit_instruction_len=2),
                   lambda v, g: (read.append(g[RAX]), g.__setitem__(RAX, 0x901),
                                 defs.EXIT_WRMSR)[-1],
                   exit_with(defs.EXIT_HLT, vm_exit_instruction_len=1)]
    assert c.run().reason == "Halt"
    assert read == [0xD00] and vmcs(m)[F.GUEST_IA32_EFER] == 0xD01    # LMA stays the CPU's
    vm.close()


def test_ept_faults():
    m = Machine()
    vm, c = vcpu(m)
    m.vmx.steps = [exit_with(defs.EXIT_EPT_VIOLATION, exit_qualification=0x18A,
                             guest_physical_address=0x3000004),
                   exit_with(defs.EXIT_EPT_MISCONFIG, guest_physical_address=0x5000)]
    assert c.run().as_tuple() == ("NestedPageFault", 0x3000004, "wp")
    assert c.run().as_tuple() == ("NestedPageFault", 0x5000, "v")
    vm.close()


def test_other_exits():
    m = Machine()
    vm, c = vcpu(m)
    m.vmx.steps = [exit_with(defs.EXIT_EXTERNAL_INTERRUPT, vm_exit_intr_info=0x80000024),
                   exit_with(defs.EXIT_EXCEPTION_NMI, vm_exit_intr_info=0x80000202),
                   exit_with(defs.EXIT_PREEMPTION_TIMER), exit_with(defs.EXIT_TRIPLE_FAULT),
                   exit_with(defs.EXIT_TASK_SWITCH)]
    assert c.run().as_tuple() == ("ExternalInterrupt", 36)
    assert c.run().as_tuple() == ("ExternalInterrupt", 2)
    assert c.run().as_tuple() == ("Nothing",)
    assert c.run().as_tuple() == ("SystemDown",)
    with pytest.raises(UnexpectedExit, match="TASK_SWITCH"):
        c.run()
    vm.close()


def test_invalid_guest_state_is_failentry_with_the_check_named():
    m = Machine()
    vm, c = vcpu(m, "protected")
    vmcs(m)[F.GUEST_TR_AR_BYTES] = 0x89
    m.vmx.steps = [exit_with(0x80000021, exit_qualification=0)]
    e = c.run()
    assert e.reason == "FailEntry" and e.code == 0x80000021
    assert "invalid guest state" in e.message and "not a present busy TSS" in e.message
    assert m.vmx.launched[c.vmcs.pa] is False and not c.vmcs.launched       # VMCLEARed
    m.vmx.steps = [exit_with(0x80000021, exit_qualification=4)]
    assert "invalid VMCS link pointer" in c.run().message
    vm.close()


def test_vmfail_is_failentry_with_the_error_named():
    m = Machine()
    vm, c = vcpu(m)
    vmcs(m)[F.HOST_TR_SELECTOR] = 0
    m.vmx.entry_error = 8
    e = c.run()
    assert (e.reason, e.code) == ("FailEntry", 8)
    assert "VM entry with invalid host-state field(s)" in e.message
    assert "host TR selector is 0" in e.message
    vm.close()


def test_interrupts_are_injected_or_wait_for_the_window():
    m = Machine()
    vm, c = vcpu(m)
    v = vmcs(m)
    v[F.GUEST_RFLAGS] = 0x202                                     # IF = 1: injected now
    c.inject_interrupt(0x40)
    m.vmx.steps = [exit_with(defs.EXIT_HLT, vm_exit_instruction_len=1)]
    c.run()
    assert m.vmx.entries[-1][0] == 0x80000040
    v[F.GUEST_RFLAGS] = 0x2                                       # IF = 0: the window opens
    c.inject_interrupt(0x41)
    m.vmx.steps = [exit_with(defs.EXIT_INTERRUPT_WINDOW, guest_rflags=0x202),
                   exit_with(defs.EXIT_HLT, vm_exit_instruction_len=1)]
    c.run()
    held, delivered = m.vmx.entries[-2:]
    assert not held[0] & defs.INTR_VALID and held[1] & defs.CPU_INTERRUPT_WINDOW_EXITING
    assert delivered[0] == 0x80000041 and not delivered[1] & defs.CPU_INTERRUPT_WINDOW_EXITING
    c.inject_interrupt(0x42)
    c.inject_interrupt(0x43)                                      # one now, one at the window
    v[F.GUEST_RFLAGS] = 0x202
    m.vmx.steps = [exit_with(defs.EXIT_INTERRUPT_WINDOW, guest_rflags=0x202),
                   exit_with(defs.EXIT_HLT, vm_exit_instruction_len=1)]
    c.run()
    both, last = m.vmx.entries[-2:]
    assert both == (0x80000042, both[1]) and both[1] & defs.CPU_INTERRUPT_WINDOW_EXITING
    assert last[0] == 0x80000043 and not last[1] & defs.CPU_INTERRUPT_WINDOW_EXITING
    vm.close()


def test_event_cut_short_is_reinjected():
    m = Machine()
    vm, c = vcpu(m)
    m.vmx.steps = [exit_with(defs.EXIT_EPT_VIOLATION, idt_vectoring_info=0x80000B0E,
                             idt_vectoring_error_code=2, guest_physical_address=0x100000),
                   exit_with(defs.EXIT_HLT, vm_exit_instruction_len=1)]
    vm.run(c, echo=False)
    assert m.vmx.entries[1][0] == 0x80000B0E and vmcs(m)[F.VM_ENTRY_EXCEPTION_ERROR_CODE] == 2


def test_tlb_flushes():
    m = Machine()
    vm, c = vcpu(m)
    m.vmx.steps = [exit_with(defs.EXIT_HLT, vm_exit_instruction_len=1)] * 3
    c.run()
    assert m.vmx.flushes == [("invept", 1, c.eptp), ("invvpid", 1, c.vpid)]
    c.run()
    assert len(m.vmx.flushes) == 2                                 # nothing changed
    vm.map_ram(0x400000, 0x1000)
    vm.unmap(0x400000, 0x1000)
    c.run()
    assert m.vmx.flushes[2] == ("invept", 1, c.eptp)
    vm.close()


def test_xsetbv_and_rsp():
    m = Machine()
    vm, c = vcpu(m)
    c.gprs[RAX], c.gprs[RCX], c.gprs[RDX] = 3, 0, 0
    c.set_gpr(RSP, 0x8000)
    m.vmx.steps = [exit_with(defs.EXIT_XSETBV, vm_exit_instruction_len=3),
                   lambda v, g: (g.__setitem__(RAX, 0x10), defs.EXIT_XSETBV)[1],
                   exit_with(defs.EXIT_HLT, vm_exit_instruction_len=1)]
    c.run()
    assert c.xcr0 == 3 and m.hw.xcr0 == 3 and c.get_gpr(RSP) == 0x8000
    assert vmcs(m)[F.GUEST_RSP] == 0x8000
    assert m.vmx.entries[2][0] == 0x80000B0D                        # XCR0 bit 4: #GP(0)
    vm.close()


def test_real_mode_exceptions_push_no_error_code():
    m = Machine()
    vm, c = vcpu(m, "real")
    c.inject_exception(13, 0)
    assert vmcs(m)[F.VM_ENTRY_INTR_INFO] == 0x8000030D
    assert checks.control_failures(c) == []
    vm.close()
