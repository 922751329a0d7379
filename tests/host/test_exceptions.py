# Host tests for the error-code rule of exception injection (hv.x86.exceptions)
# and VCpu.inject_exception over both back ends' fakes: which vectors push
# an error code (Intel SDM 3A Table 6-1, AMD APM2 Table 8-1), none in real
# mode, whatever the caller passed.
import pytest

import svm_fakes
import vmx_fakes
from hv.x86 import exceptions as X
from hv.vcpu.svm import defs as svm_defs, percpu as svm_percpu, vmcb as V
from hv.vcpu.vmx import defs as vmx_defs, fields as F, percpu as vmx_percpu

INTEL = (8, 10, 11, 12, 13, 14, 17, 21)
AMD = INTEL + (29, 30)


@pytest.fixture(autouse=True)
def _fresh_percpu():
    svm_percpu._owner.state = vmx_percpu._owner.state = None
    yield
    svm_percpu._owner.state = vmx_percpu._owner.state = None


def test_the_vector_lists_of_both_manuals():
    for v in range(32):
        assert X.pushes_error_code(v, True) == (v in INTEL), v
        assert X.pushes_error_code(v, True, X.AMD_ERROR_CODE_VECTORS) == (v in AMD), v
        assert not X.pushes_error_code(v, False, X.AMD_ERROR_CODE_VECTORS)


@pytest.mark.parametrize("vector", [-1, 32, 255])
def test_not_an_exception_vector(vector):
    with pytest.raises(ValueError, match="outside 0-31"):
        X.pushes_error_code(vector, True)


def _svm(mode):
    m = svm_fakes.Machine()
    vm = m.vm(16 * svm_fakes.MiB)
    c = vm.new_vcpu()
    c.setup(mode)

    def injected():
        vector, kind, err = svm_defs.decode_event(c.vmcb.get(V.EVENTINJ))
        assert kind == svm_defs.EVENT_TYPE_EXCEPTION
        return vector, err
    return vm, c, injected


def _vmx(mode):
    m = vmx_fakes.Machine()
    vm = m.vm(16 * vmx_fakes.MiB)
    c = vm.new_vcpu()
    c.setup(mode)

    def injected():
        v = m.vmx.vmcs[m.vmx.current]
        vector, kind, has_err = vmx_defs.decode_intr_info(v[F.VM_ENTRY_INTR_INFO])
        assert kind == vmx_defs.INTR_TYPE_HW_EXCEPTION
        return vector, v[F.VM_ENTRY_EXCEPTION_ERROR_CODE] if has_err else None
    return vm, c, injected


BACK_ENDS = {"svm": (_svm, AMD), "vmx": (_vmx, INTEL)}


@pytest.mark.parametrize("back_end", sorted(BACK_ENDS))
@pytest.mark.parametrize("mode", ["protected", "long"])
def test_error_code_only_for_the_vectors_that_push_one(back_end, mode):
    make, pushing = BACK_ENDS[back_end]
    vm, c, injected = make(mode)
    for vector in range(32):
        c.inject_exception(vector, 0x18)        # an error code given for every vector
        assert injected() == (vector, 0x18 if vector in pushing else None), vector
    c.inject_exception(13)                      # #GP without one from the caller: #GP(0)
    assert injected() == (13, 0)
    c.inject_exception(14, 0x1_0000_0007)       # a u32 on the stack (APM2 15.20, SDM 3C 25.8.3)
    assert injected() == (14, 7)
    vm.close()


@pytest.mark.parametrize("back_end", sorted(BACK_ENDS))
def test_real_mode_pushes_no_error_code(back_end):
    vm, c, injected = BACK_ENDS[back_end][0]("real")
    for vector in (8, 13, 14, 17):
        c.inject_exception(vector, 0)
        assert injected() == (vector, None)
    vm.close()


@pytest.mark.parametrize("back_end", sorted(BACK_ENDS))
def test_fault_applies_the_rule(back_end):
    # fault() (what the VMM uses for an MSR it does not emulate) goes through
    # the same rule: #UD with no error code even if one is passed.
    vm, c, injected = BACK_ENDS[back_end][0]("long")
    c.exit_rip = 0x10000
    c.fault(6, 0)
    assert injected() == (6, None) and c.rip == 0x10000
    vm.close()


@pytest.mark.parametrize("back_end", sorted(BACK_ENDS))
def test_an_interrupt_vector_is_refused(back_end):
    vm, c, _ = BACK_ENDS[back_end][0]("long")
    with pytest.raises(ValueError, match="outside 0-31"):
        c.inject_exception(0x40)
    vm.close()
