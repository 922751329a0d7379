# Host test for vcpu.cr2 over both back ends' fakes: where the guest's CR2
# lives. SVM: the VMCB save area (APM2 Table B-2), which VMRUN and #VMEXIT
# switch; VMX: slot regs.CR2 of the register file, after the 16 GPRs, which
# port/vmx.asm loads before each entry and saves after each exit (the VMCS
# has no CR2, SDM 3C 25.4.1).
import pytest

import svm_fakes
import vmx_fakes
from hv.x86 import regs
from hv.vcpu.svm import percpu as svm_percpu, vmcb as V
from hv.vcpu.vmx import percpu as vmx_percpu

MARKER = 0x00007E57C2C2B000


@pytest.fixture(autouse=True)
def _fresh_percpu():
    svm_percpu._owner.state = vmx_percpu._owner.state = None
    yield
    svm_percpu._owner.state = vmx_percpu._owner.state = None


def test_register_file_has_the_cr2_slot_after_the_gprs():
    g = regs.new_gprs()
    assert regs.CR2 == 16 and regs.SLOTS == 17 and len(g) == regs.TOTAL
    # port/fpu.h: the FXSAVE image from slot 18 (byte 144, 16-byte aligned), 512 bytes,
    # in the reset state: FCW 0x037F, MXCSR 0x1F80 (bytes 24-27 of the image).
    assert regs.FPU == 18 and regs.TOTAL * 8 == 144 + 512 and len(bytes(g)) == 656
    image = bytes(g)[144:]
    assert image[0:2] == b"\x7f\x03" and image[24:28] == b"\x80\x1f\0\0"
    assert not any(bytes(g)[:144]) and not any(image[2:24]) and not any(image[28:])


@pytest.mark.parametrize("fakes", [svm_fakes, vmx_fakes], ids=["svm", "vmx"])
def test_cr2_reads_and_writes_the_guests_copy(fakes):
    m = fakes.Machine()
    vm = m.vm(16 * fakes.MiB)
    c = vm.new_vcpu()
    c.setup("long")
    assert c.cr2 == 0
    c.cr2 = MARKER | 1 << 64                # 64 bits kept
    assert c.cr2 == MARKER
    if fakes is svm_fakes:
        assert c.vmcb.get(V.CR2) == MARKER and c.gprs[regs.CR2] == 0
    else:
        assert c.gprs[regs.CR2] == MARKER
    vm.close()
