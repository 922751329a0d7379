# Host tests for vm.run() with the guest's platform devices, over the fake
# SVM natives: port 0xF4 ends the run with its value, port 0x80 is ignored,
# VMM ports come first, a halted guest with its timer running waits for the
# tick and gets it injected, a spinning one gets it at the host timer's exit,
# console echo with the prefix and input, the readable trace, and a CPUID
# without the local APIC.
import struct

import pytest

from hv.vcpu.svm import defs, percpu, vmcb as V
from hv.vmm.run import Vmm
from svm_fakes import MiB, Machine, exit_with
from time_fakes import Timer, Tsc


@pytest.fixture(autouse=True)
def _fresh_percpu():
    percpu._owner.state = None
    yield
    percpu._owner.state = None


def io(port, size, is_in, rax=0):
    def step(v, gprs):
        v.set(V.RAX, rax)
        v.set(V.EXITINFO1, port << 16 | size | (1 if is_in else 0))
        v.set(V.EXITINFO2, v.get(V.RIP) + 1)
        return defs.VMEXIT_IOIO
    return step


def out8(port, value):
    return io(port, defs.IOIO_SZ8, False, value)


def guest(m, timer=None):
    vm = m.vm(16 * MiB)
    tsc = Tsc(step=50)
    m.use_tsc(tsc)                                  # the natives' TSC too
    vm.vmm = Vmm(vm, tsc=tsc, hz=lambda: 1_000_000, timer=timer or Timer())
    c = vm.new_vcpu()
    c.set_entry(0x10000)
    c.setup("protected")
    vm.write(0x10000, b"\xf4" * 64)                  # HLTs: any exit there decodes
    return vm, c


def test_debug_exit_ends_the_run_with_its_value():
    m = Machine()
    vm, c = guest(m)
    vm.vmm.ports[0x600] = 5
    m.svm.steps = [out8(0x80, 0x12), out8(0x3F8, ord("k")), io(0x600, defs.IOIO_SZ8, True),
                   out8(0xF4, 3), exit_with(defs.VMEXIT_HLT)]
    r = vm.run(c, trace=True, echo=False)
    assert r.reason == "DebugExit" and r.result == 3 and r.output == b"k"
    assert r.trace == [("IoWrite", 0x80, 1, 0x12), ("IoRead", 0x600, 1, 5), ("IoWrite", 0xF4, 1, 3)]
    assert repr(r) == "<RunResult DebugExit(3) after 4 exits, 1 bytes of output>"
    assert len(m.svm.steps) == 1                      # nothing ran after the write
    vm.vmm.ports[0xF4] = 0                            # a VMM port of that number wins
    m.svm.steps = [out8(0xF4, 9), exit_with(defs.VMEXIT_HLT)]
    r = vm.run(c, echo=False)
    assert r.reason == "Halt" and r.result is None and vm.vmm.ports[0xF4] == 9
    vm.close()


def test_halted_guest_gets_its_timer_tick():
    m = Machine()
    timer = Timer()
    vm, c = guest(m, timer)
    setup = [out8(0x20, 0x11), out8(0x21, 0x20), out8(0x21, 4), out8(0x21, 1), out8(0x21, 0xFE),
             out8(0x43, 0x34), out8(0x40, 11932 & 0xFF), out8(0x40, 11932 >> 8)]
    m.svm.steps = setup + [exit_with(defs.VMEXIT_HLT, rflags=0x202),
                           out8(0x20, 0x20), out8(0xF4, 0)]
    r = vm.run(c, echo=False)
    assert r.result == 0
    injected = m.svm.entries[len(setup) + 1][0]       # the entry after the HLT
    assert injected == defs.event(0x20, defs.EVENT_TYPE_INTR)
    assert timer.armed[0] == pytest.approx(0.010, abs=0.001) and timer.armed[-1] is None
    vm.close()


def test_spinning_guest_gets_its_tick_at_the_host_timer_exit():
    m = Machine()
    vm, c = guest(m)
    tsc = vm.vmm.platform.ticks._tsc
    m.svm.steps = [out8(0x20, 0x11), out8(0x21, 0x20), out8(0x21, 4), out8(0x21, 1),
                   out8(0x21, 0xFE), out8(0x43, 0x34), out8(0x40, 0x9C), out8(0x40, 0x2E)]

    def host_irq(v, gprs):
        tsc.t += 20_000                               # 20 ms of spinning in the guest
        v.set(V.RFLAGS, 0x202)
        return defs.VMEXIT_INTR
    m.svm.vector = 32
    m.svm.steps += [host_irq, out8(0xF4, 0)]
    r = vm.run(c, echo=False, trace=True)
    assert r.trace[-2:] == [("ExternalInterrupt", 32), ("IoWrite", 0xF4, 1, 0)]
    assert m.svm.entries[-1][0] == defs.event(0x20, defs.EVENT_TYPE_INTR)
    vm.close()


def test_echo_prefix_input_and_trace_lines(capsys):
    m = Machine()
    keys = [ord("y")]
    m.hw.console_getc = lambda: keys.pop() if keys else None
    vm, c = guest(m)
    vm.trace = True
    vm.vmm.unhandled_io = "absent"                    # 0x1234 below (default: the VM stops)
    seen = []

    def read_back(v, gprs):                          # what the IN before left in AL
        seen.append(v.get(V.RAX) & 0xFF)
        return out8(0x3F8, ord("o"))(v, gprs)
    m.svm.steps = [io(0x3FD, defs.IOIO_SZ8, True), io(0x3F8, defs.IOIO_SZ8, True),
                   read_back, out8(0x3F8, ord("k")), out8(0x3F8, 10),
                   out8(0x21, 0xFF), io(0x1234, defs.IOIO_SZ16, True), out8(0xF4, 0)]
    r = vm.run(c)
    out = capsys.readouterr().out
    assert "guest| ok\n" in out and r.output == b"ok\n"
    assert seen == [ord("y")]                         # the key reached the guest's IN
    assert "[exit 6] IoWrite port=0x21 width=1 data=0xff (PIC) at rip 0x10005" in out
    assert "[exit 7] IoRead port=0x1234 width=2 -> 0xffff (absent) at rip 0x10006" in out
    assert "[vm] <RunResult DebugExit(0) after 8 exits, 3 bytes of output>" in out
    assert "port=0x3f8" not in out                    # COM1 shows as output, not as exits
    vm.close()


def test_trace_lines_never_cut_a_guest_line(capsys):
    # An exit between two bytes of a guest line (a host timer interrupt in
    # CI) printed its trace line inside the guest's: 'guest| o[exit 2] ...'.
    m = Machine()
    m.hw.console_getc = lambda: None
    vm, c = guest(m)
    vm.trace = True
    m.svm.steps = [out8(0x3F8, ord("o")), out8(0x80, 0x2E), out8(0x3F8, ord("k")),
                   out8(0x3F8, 10), out8(0x3F8, ord("!")), out8(0xF4, 0)]
    r = vm.run(c)
    out = capsys.readouterr().out.splitlines()
    assert not r.error, r.report
    assert out[:3] == ["[exit 2] IoWrite port=0x80 width=1 data=0x2e (POST) at rip 0x10001",
                       "guest| ok", "[exit 6] IoWrite port=0xf4 width=1 data=0x0 (debug-exit) at rip 0x10005"]
    assert out[3] == "guest| !"                       # the unended line, when the run ends
    vm.close()


def test_the_madt_is_there_only_with_the_apics():
    from hv.vmm.acpi import BASE
    for apic in (False, True):
        m = Machine()
        vm, c = guest(m)
        if apic:
            vm.vmm.enable_apic()
        m.svm.steps = [out8(0xF4, 0)]
        vm.run(c, echo=False)
        rsdt = struct.unpack_from("<I", vm.read(BASE + 16, 4))[0]
        n = (struct.unpack_from("<I", vm.read(rsdt + 4, 4))[0] - 36) // 4
        sigs = [vm.read(struct.unpack_from("<I", vm.read(rsdt + 36 + 4 * i, 4))[0], 4)
                for i in range(n)]
        assert sigs == ([b"FACP", b"APIC"] if apic else [b"FACP"])
        if not apic:
            with pytest.raises(RuntimeError, match="before the VM's first run"):
                vm.vmm.enable_apic()
        vm.close()


def test_halt_with_nothing_to_wake_the_guest_ends_the_run():
    m = Machine()
    vm, c = guest(m)
    m.svm.steps = [exit_with(defs.VMEXIT_HLT, rflags=0x202)]
    assert vm.run(c, echo=False).reason == "Halt"
    vm.close()


def test_cpuid_hides_the_local_apic():
    from hv.vcpu.cpuid import CpuidPolicy
    p = CpuidPolicy(lambda leaf, sub: (0, 0, 0xFFFFFFFF, 0xFFFFFFFF))
    a, b, c, d = p.answer(1, 0)
    assert not d & (1 << 9) and not c & (1 << 21)     # no xAPIC, no x2APIC: the PIC it is
    assert d & (1 << 8) and c & (1 << 31)             # the rest stays, hypervisor bit set


def test_stop_returns_after_the_exit_and_run_goes_on():
    m = Machine()
    vm, c = guest(m)
    m.svm.steps = [out8(0x80, 1), io(0x3FD, defs.IOIO_SZ8, True), out8(0x80, 2), out8(0xF4, 4)]
    r = vm.run(c, echo=False, stop=lambda e: e.reason == "IoRead")
    assert (r.reason, r.exit.port, r.result) == ("IoRead", 0x3FD, None)
    assert c.get_gpr(0) & 0xFF == 0x60                # completed before it stopped
    r = vm.run(c, echo=False, trace=True)
    assert r.result == 4 and r.trace == [("IoWrite", 0x80, 1, 2), ("IoWrite", 0xF4, 1, 4)]
    vm.close()


def test_print_regs(capsys):
    m = Machine()
    vm, c = guest(m)
    vm.load_multiboot(b"\x02\xb0\xad\x1b\x00\x00\x01\x00\xfe\x4f\x51\xe4" + struct.pack(
        "<5I", 0x100000, 0x100000, 0x100040, 0x100040, 0x100020) + b"\xf4" * 32)
    c.print_regs()
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "rax    000000002badb002  rcx    0000000000000000  rdx    0000000000000000"
    assert out[1].startswith("rbx    0000000000008000  rsp ")
    assert out[-1] == "r15    0000000000000000  rip    0000000000100020  rflags 0000000000000002"
    vm.close()
