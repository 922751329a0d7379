# Host tests for the SVM vCPU against fake hw/svm natives: per-CPU enable
# (CPUID, VM_CR.SVMDIS, EFER, VM_HSAVE_PA), frame accounting, mode set-up,
# exit dispatch into exit records, the width rules of complete(), CPUID,
# XSETBV and EFER handled inside, failed entries and unexpected exits.
import pytest

from hv.vcpu import cpuid as cpuid_policy
from hv.x86.regs import RAX, RBX, RCX, RDX, RSI, RDI, R8, R9
from hv.vcpu.svm import defs, percpu, vmcb as V
from hv.vcpu.svm.state import _RAX_FIELD
from hv.vcpu.svm.vcpu import _MISC1, _VMEXIT_CPUID
from hv.vcpu.api import UnexpectedExit
from svm_fakes import MiB, Machine, exit_with

EFER, VM_HSAVE_PA = 0xC0000080, 0xC0010117


@pytest.fixture(autouse=True)
def _fresh_percpu():
    percpu._owner.state = None
    yield
    percpu._owner.state = None


def long_vcpu(m, **kw):
    vm = m.vm(16 * MiB, **kw)
    c = vm.new_vcpu()
    c.set_entry(0x10000)
    c.setup("long")
    c.bind()
    return vm, c


def code_at(vm, c, rip, code):
    vm.write(rip, code + b"\x00" * 16)
    c.rip = rip


def test_constants_folded_in_the_run_loop():
    assert _VMEXIT_CPUID == defs.VMEXIT_CPUID and _RAX_FIELD == V.RAX


def test_percpu_enable_and_release_restore_everything():
    m = Machine()
    free0 = m.allocator.free_count()
    vm, c = long_vcpu(m)
    assert m.hw.msrs[EFER] & defs.EFER_SVME and m.hw.msrs[EFER] & defs.EFER_NXE
    assert m.hw.msrs[VM_HSAVE_PA] == c.percpu.hsave_pa != 0
    c2 = vm.new_vcpu()
    assert c2.asid != c.asid and c2.percpu is c.percpu and c.percpu.users == 2
    vm.close()
    assert m.hw.msrs[EFER] == 0x500 and m.hw.msrs[VM_HSAVE_PA] == 0
    assert m.allocator.free_count() == free0


def test_svmdis_gives_a_clear_message():
    m = Machine(vm_cr=defs.VM_CR_SVMDIS | defs.VM_CR_LOCK)
    vm = m.vm()
    with pytest.raises(percpu.SvmError, match="disabled by firmware.*enable AMD-V/SVM"):
        vm.new_vcpu()
    vm.close()


def test_missing_vm_cr_means_not_disabled():
    m = Machine(vm_cr=None)                       # Bochs ryzen: rdmsr(VM_CR) raises #GP
    vm, c = long_vcpu(m)
    vm.close()


def test_long_mode_setup_state():
    m = Machine()
    vm, c = long_vcpu(m)
    v = c.vmcb
    assert v.get(V.EFER) == defs.EFER_SVME | defs.EFER_LME | defs.EFER_LMA | defs.EFER_NXE
    assert v.get(V.CR0) & 0x80000001 == 0x80000001 and v.get(V.CR4) == 0x20
    assert v.segment(V.CS) == (0x08, 0, 0xFFFFFFFF, defs.ATTR_CODE64)
    assert v.get(V.RIP) == 0x10000 and v.get(V.CR3) == 0x2000
    assert v.get(V.INTERCEPT_MISC1) == _MISC1 and v.get(V.INTERCEPT_MISC2) & defs.INTERCEPT_VMRUN
    assert v.get(V.N_CR3) == vm.npt.root and v.get(V.NP_CONTROL) == defs.NP_ENABLE
    assert v.get(V.VINTR) == defs.V_INTR_MASKING and v.get(V.GUEST_ASID) == c.asid
    assert vm.read_phys64(0x2000) & ~0xFFF == 0x3000                     # PML4 -> PDPT
    from hv.vcpu.svm.checks import vmrun_failures
    assert vmrun_failures(v) == []
    vm.close()


def test_real_mode_entry_is_cs_ip():
    m = Machine()
    vm = m.vm()
    c = vm.new_vcpu()
    c.set_entry(0xFFFF0)
    c.setup("real")
    assert c.vmcb.segment(V.CS) == (0xF000, 0xF0000, 0xFFFF, defs.ATTR_CODE16)
    assert c.rip == 0xFFF0 and c.vmcb.get(V.CR0) & 1 == 0
    c.set_entry(0x7C00)
    assert c.vmcb.segment(V.CS)[0] == 0 and c.rip == 0x7C00
    vm.close()


def test_cpuid_is_answered_inside_with_hv_bit_and_signature():
    m = Machine()
    vm, c = long_vcpu(m)
    code_at(vm, c, 0x10000, b"\x0f\xa2\x0f\xa2\x66\x0f\xa2\xf4")
    leaves = iter([(1, 0), (0x40000000, 0), (0x80000001, 0)])
    got = []

    def cpuid_step(v, gprs):
        if got:
            got[-1] = (got[-1], v.get(V.RAX), gprs[RBX], gprs[RCX], gprs[RDX])
        leaf, sub = next(leaves, (None, None))
        if leaf is None:
            return defs.VMEXIT_HLT
        v.set(V.RAX, leaf)
        gprs[RCX] = sub
        got.append(leaf)
        return defs.VMEXIT_CPUID
    m.svm.steps = [cpuid_step] * 4
    e = c.run()
    assert e.reason == "Halt" and c.rip == 0x10008
    one, hv, ext = got
    assert one[3] & (1 << 31) and not one[3] & (1 << 5)           # hypervisor bit, no VMX
    assert hv[1:] == (0x40000001, 0x6976706D, 0x00726F73, 0)      # "mpvisor\0\0\0\0\0"
    assert not ext[3] & defs.CPUID_80000001_ECX_SVM                # SVM hidden
    vm.close()


def test_cpuid_policy_hides_svm_leaf_and_caches():
    calls = []

    def host(leaf, sub):
        calls.append((leaf, sub))
        return (leaf, sub, 0xFFFFFFFF, 7)
    p = cpuid_policy.CpuidPolicy(host)
    assert p.answer(0x8000000A, 0) == (0, 0, 0, 0)
    assert p.answer(7, 1) == (7, 1, 0xFFFFFFFF, 7) and p.answer(7, 2)[1] == 2
    p.answer(2, 5)
    p.answer(2, 9)
    assert calls.count((2, 0)) == 1 and p.cached(2) == (2, 0, 0xFFFFFFFF, 7)
    assert list(p.table([(0x40000000, 0), (7, 1)])) == [
        0x40000000, 0xFFFFFFFF, 0x40000001, 0x6976706D, 0x00726F73, 0,
        7, 1, 7, 1, 0xFFFFFFFF, 7]


def test_io_exits_and_complete_width():
    m = Machine()
    vm, c = long_vcpu(m)
    code_at(vm, c, 0x10000, b"\xec")
    c.set_gpr(RAX, 0x1122334455667788)
    m.svm.steps = [exit_with(defs.VMEXIT_IOIO, 0x600 << 16 | defs.IOIO_SZ8 | 1, 0x10001)]
    e = c.run()
    assert e.as_tuple() == ("IoRead", 0x600, 1) and c.rip == 0x10001 and c.exit_rip == 0x10000
    with pytest.raises(ValueError, match="complete"):
        c.run()
    c.complete(0xABCD)
    assert c.get_gpr(RAX) == 0x11223344556677CD
    assert not c.vmcb.dirty                           # the vCPU's own writes: no re-check
    m.svm.steps = [exit_with(defs.VMEXIT_IOIO, 0x600 << 16 | defs.IOIO_SZ32 | 1, 0x10002)]
    c.run()
    c.complete(0xDEADBEEF)
    assert c.get_gpr(RAX) == 0xDEADBEEF                               # 64-bit: zero-extends
    c.set_gpr(RAX, 0x55AA)
    m.svm.steps = [exit_with(defs.VMEXIT_IOIO, 0x3F8 << 16 | defs.IOIO_SZ16, 0x10003)]
    assert c.run().as_tuple() == ("IoWrite", 0x3F8, 2, 0x55AA)
    vm.close()


def test_io_complete_in_legacy_mode_merges_32_bits():
    m = Machine()
    vm = m.vm()
    c = vm.new_vcpu()
    c.setup("protected")
    c.bind()
    c.set_gpr(RAX, 0x1122334455667788)
    m.svm.steps = [exit_with(defs.VMEXIT_IOIO, 0x600 << 16 | defs.IOIO_SZ32 | 1, 5)]
    c.run()
    c.complete(0xDEADBEEF)
    assert c.get_gpr(RAX) == 0x11223344DEADBEEF
    vm.close()


def test_msr_exits_efer_inside_and_fault():
    m = Machine()
    vm, c = long_vcpu(m)
    code_at(vm, c, 0x10000, b"\x0f\x32" * 4 + b"\x0f\x30")
    m.svm.steps = [exit_with(defs.VMEXIT_MSR, 0)]
    c.gprs[RCX] = 0x4D500001
    assert c.run().as_tuple() == ("SysRegRead", 0x4D500001) and c.rip == 0x10002
    c.complete(0x123456789ABCDEF0)
    assert c.get_gpr(RAX) == 0x9ABCDEF0 and c.get_gpr(RDX) == 0x12345678
    # EFER: read inside (without SVME), then a fault on an unknown MSR
    c.gprs[RCX] = EFER

    def then_unknown(v, gprs):
        gprs[RCX] = 0x4D500002
        return defs.VMEXIT_MSR
    m.svm.steps = [exit_with(defs.VMEXIT_MSR, 0), then_unknown]
    e = c.run()
    assert (c.get_gpr(RAX) | c.get_gpr(RDX) << 32) == defs.EFER_LME | defs.EFER_LMA | defs.EFER_NXE
    assert e.as_tuple() == ("SysRegRead", 0x4D500002) and c.rip == 0x10006
    c.fault(13, 0)
    assert c.rip == 0x10004 and c.vmcb.get(V.EVENTINJ) == defs.event(13, defs.EVENT_TYPE_EXCEPTION, 0)
    # WRMSR
    c.gprs[RCX], c.gprs[RDX] = 0x4D500001, 0x1
    c.set_gpr(RAX, 2)
    code_at(vm, c, 0x10008, b"\x0f\x30")
    m.svm.steps = [exit_with(defs.VMEXIT_MSR, 1)]
    assert c.run().as_tuple() == ("SysRegWrite", 0x4D500001, 0x100000002)
    vm.close()


def test_hypercall_halt_shutdown_npf_intr():
    m = Machine()
    vm, c = long_vcpu(m)
    code_at(vm, c, 0x10000, b"\x0f\x01\xd9\xf4")
    for i, r in enumerate((RDI, RSI, RDX, RCX, R8, R9)):
        c.gprs[r] = i + 1
    c.set_gpr(RAX, 7)
    m.svm.steps = [exit_with(defs.VMEXIT_VMMCALL), exit_with(defs.VMEXIT_HLT),
                   exit_with(defs.VMEXIT_NPF, 0x100000006, 0x200010),
                   exit_with(defs.VMEXIT_INTR), exit_with(defs.VMEXIT_SHUTDOWN)]
    assert c.run().as_tuple() == ("Hypercall", 7, (1, 2, 3, 4, 5, 6))
    c.set_return_value(42)
    assert c.get_gpr(RAX) == 42
    assert c.run().as_tuple() == ("Halt",) and c.rip == 0x10004
    assert c.run().as_tuple() == ("NestedPageFault", 0x200010, "w")
    m.svm.vector = 36
    assert c.run().as_tuple() == ("ExternalInterrupt", 36)
    assert c.run().as_tuple() == ("SystemDown",)
    vm.close()


@pytest.mark.parametrize("qemu", [True, False])
def test_failed_entry_is_decoded(qemu):
    m = Machine(qemu_exitcode=qemu)
    vm, c = long_vcpu(m)
    c.vmcb.clear_bits(V.EFER, defs.EFER_SVME)
    m.svm.steps = [lambda v, g: -1]
    e = c.run()
    assert e.reason == "FailEntry" and e.code == -1 and "EFER.SVME is zero" in e.message
    vm.close()


def test_failed_entry_is_decoded_when_the_exit_overwrote_the_state():
    m = Machine()
    vm, c = long_vcpu(m)
    c.vmcb.clear_bits(V.EFER, defs.EFER_SVME)

    def bochs_like(v, gprs):                          # the host's state stored back
        v.set(V.EFER, 0x1D00)
        v.set(V.RIP, 0x1401E5)
        return -1
    m.svm.steps = [bochs_like]
    e = c.run()
    assert e.reason == "FailEntry" and "EFER.SVME is zero" in e.message
    vm.close()


def test_unexpected_exit_raises_with_name_and_dump():
    m = Machine()
    vm, c = long_vcpu(m)
    m.svm.steps = [exit_with(0x6E)]
    with pytest.raises(UnexpectedExit, match=r"(?s)0x6e \(RDTSC\).*VMCB at .*exitcode +0x6e"):
        c.run()
    vm.close()


def test_svm_instructions_raise_ud_in_the_guest():
    m = Machine()
    vm, c = long_vcpu(m)
    code_at(vm, c, 0x10000, b"\x0f\x01\xd8")
    m.svm.steps = [exit_with(defs.VMEXIT_VMRUN), exit_with(defs.VMEXIT_HLT)]
    c.run()
    assert m.svm.entries[1][0] == defs.event(6, defs.EVENT_TYPE_EXCEPTION)


def test_xsetbv_validated_inside():
    m = Machine()
    vm, c = long_vcpu(m)
    code_at(vm, c, 0x10000, b"\x0f\x01\xd1\xf4")

    def xsetbv(value):
        def step(v, gprs):
            v.set(V.RAX, value)
            gprs[RCX] = 0
            gprs[RDX] = 0
            return defs.VMEXIT_XSETBV
        return step
    m.svm.steps = [xsetbv(2), xsetbv(7), exit_with(defs.VMEXIT_HLT)]
    c.run()
    assert m.svm.entries[1][0] == defs.event(13, defs.EVENT_TYPE_EXCEPTION, 0)   # no x87 bit
    assert c.xcr0 == 7 and c.rip == 0x10004          # the faulting XSETBV did not advance
    assert m.hw.xcr0 == 3                              # the host's XCR0 is back after the run
    vm.close()
