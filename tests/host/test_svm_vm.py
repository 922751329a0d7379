# Host tests for the VM (guest RAM on demand or preallocated with 2 MiB
# pages, caller mappings, unmap, frames returned) and the small VMM behind
# vm.run (COM1, VMM ports, fault-in of RAM, hypercalls), over fake natives.
import pytest

from hv.x86.regs import RAX, RCX, RDX, RSI, RDI, R8, R9
from hv.vcpu.svm import defs, percpu, vmcb as V
from svm_fakes import MiB, Machine, exit_with


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


def test_vm_memory_frames_and_2m_pages():
    m = Machine()
    a = m.allocator
    free0 = a.free_count()
    vm = m.vm(8 * MiB, prealloc=True)
    assert vm.npt.translate(0)[0] % (2 * MiB) == 0 and vm.owned_frames() == 2048
    vm.write(0x1FF000, b"x" * 0x2000)                 # across a 2 MiB boundary
    assert vm.read(0x1FFFFE, 4) == b"xxxx"
    vm.unmap(0x200000, 0x1000)                        # splits the large page, frees one frame
    assert vm.read(0x200000, 2) == b"\0\0" and vm.owned_frames() == 2047
    vm.close()
    assert a.free_count() == free0
    vm = m.vm(8 * MiB)                                # lazy: nothing until written
    assert vm.owned_frames() == 0 and vm.read(0x5000, 3) == b"\0\0\0"
    vm.write(0x5FFF, b"ab")
    assert vm.owned_frames() == 2
    frame = a.alloc_frame()
    vm.map(0x9000000, frame, 0x1000, "r")
    assert vm.gpa_to_hpa(0x9000010) == frame + 0x10
    vm.close()
    a.dealloc_frame(frame)
    assert a.free_count() == free0
    with pytest.raises(ValueError):
        m.vm(8 * MiB).write(0x9000000, b"x")


def test_vmm_loop_serial_ports_msrs_hypercalls_and_faults():
    m = Machine()
    vm, c = long_vcpu(m)
    vm.write(0x10000, b"\x90" * 5 + b"\xf4")
    vm.vmm.ports[0x600] = 0xA5A5A5A5
    vm.vmm.msrs[0x4D500001] = 9
    vm.vmm.unhandled_io = "absent"                    # 0x601: reads float high (default: stop)
    steps = []

    def io(port, size, is_in, rax=0):
        def step(v, gprs):
            v.set(V.RAX, rax)
            v.set(V.EXITINFO1, port << 16 | size | (1 if is_in else 0))
            v.set(V.EXITINFO2, v.get(V.RIP) + 1)
            return defs.VMEXIT_IOIO
        return step

    steps += [io(0x3FD, defs.IOIO_SZ8, True), io(0x3F8, defs.IOIO_SZ8, False, ord("h")),
              io(0x3F8, defs.IOIO_SZ8, False, ord("i")), io(0x600, defs.IOIO_SZ8, True),
              io(0x601, defs.IOIO_SZ16, True),
              exit_with(defs.VMEXIT_NPF, 0x100000006, 0x300000),
              exit_with(defs.VMEXIT_HLT)]
    m.svm.steps = steps
    r = vm.run(c, trace=True, echo=False)
    assert r.reason == "Halt" and r.output == b"hi"
    assert r.trace == [("IoRead", 0x600, 1, 0xA5), ("IoRead", 0x601, 2, 0xFFFF),
                       ("NestedPageFault", 0x300000, "w"), ("Halt",)]
    assert vm.gpa_to_hpa(0x300000) > 0                 # faulted-in RAM
    vm.vmm.unhandled_io = "stop"
    code_at(vm, c, 0x10000, b"\x8a\x03")              # mov al, [rbx]
    m.svm.steps = [exit_with(defs.VMEXIT_NPF, 0x100000004, 0x9000000)]
    r = vm.run(c, echo=False)                          # outside RAM, no device: stops
    assert (r.reason, r.exit.as_tuple(), c.rip) == ("UnhandledMmio", ("MmioRead", 0x9000000, 1),
                                                    0x10000)
    assert r.report.startswith("VM stopped: the guest read guest-physical 0x9000000 (1 byte), "
                               "where there is no RAM and no device; to allow it, register one")
    m.svm.steps = [exit_with(defs.VMEXIT_NPF, 0x100000004, 0x9000000, exitintinfo=0x80000e0e)]
    assert vm.run(c, echo=False).reason == "NestedPageFault"   # during event delivery: no MMIO
    vm.close()


def test_vmm_hypercalls():
    m = Machine()
    vm, c = long_vcpu(m)
    code_at(vm, c, 0x10000, b"\x0f\x01\xd9" * 3 + b"\xf4")

    def call(nr, *args):
        def step(v, gprs):
            v.set(V.RAX, nr)
            for r, a in zip((RDI, RSI, RDX, RCX, R8, R9), args + (0,) * 6):
                gprs[r] = a
            return defs.VMEXIT_VMMCALL
        return step

    def check(v, gprs):
        assert v.get(V.RAX) == 6
        return defs.VMEXIT_HLT
    m.svm.steps = [call(1, 1, 2, 3), check]
    assert vm.run(c, echo=False).reason == "Halt"
    m.svm.steps = [call(99)]                          # unknown: the VM stops at it
    r = vm.run(c, echo=False)
    assert (r.reason, c.get_gpr(RAX), c.rip) == ("UnknownHypercall", 99, 0x10006)
    assert "vm.vmm.hypercalls[0x63] = fn(vcpu, args)" in r.report
    vm.vmm.hypercalls[99] = lambda vcpu, args: 7      # allowed: run() again repeats it
    m.svm.steps = [call(99), exit_with(defs.VMEXIT_HLT)]
    assert vm.run(c, echo=False).reason == "Halt" and c.get_gpr(RAX) == 7
    vm.close()
