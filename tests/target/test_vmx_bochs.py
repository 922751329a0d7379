# The VMX vCPU on Bochs corei7_skylake_x beyond the scenario table: physical
# interrupts (PIT, COM1) handed to the host, Ctrl-C, entry failures named (by
# Bochs' log too), VMX on only while a vCPU lives, 2 MiB/1 GiB EPT pages, a
# read-only mapping, CR accesses, the guest's CR2 across a host page fault,
# the preemption timer, hv.boot's demo.
import os
import subprocess
import sys
import tempfile
import threading

import pytest

from conftest import ISO, booted, image

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)) + "/host")
from bochs_vmx_msrs import BOCHS_MSRS  # noqa: E402

# 64-bit guest for the CR-access test: the shadowed CR0.NE and TS, CR8 both
# ways, CLTS and LMSW from a register and from memory exit and are emulated.
CR_GUEST = """
bits 64
org 0x10000
    mov rax, cr0
    btr rax, 5              ; CR0.NE is the host's: exits, emulated in the shadow
    bts rax, 3              ; TS, so that CLTS exits
    mov cr0, rax
    mov rbx, cr0            ; reads the shadow: NE clear, TS set
    mov r10, 5
    mov cr8, r10
    mov r11, cr8
    clts
    mov r13, cr0
    mov ax, 0xFFF9
    lmsw ax                 ; CR0[3:0] = 9
    mov r14, cr0
    lmsw [rel msw]          ; CR0[3:0] = 0xB
    mov r12, cr0
    hlt
msw: dw 0x000B
"""


def assemble(source):
    with tempfile.TemporaryDirectory() as d:
        src, out = os.path.join(d, "g.asm"), os.path.join(d, "g.bin")
        with open(src, "w") as f:
            f.write(source)
        subprocess.run(["nasm", "-f", "bin", "-o", out, src], check=True)
        with open(out, "rb") as f:
            return f.read()


# guests.CR2 under c.run(): its marker in CR2 after the first exit, a host
# page fault, the marker read back by the guest, then a value Python wrote.
CR2_SETUP = """
def host_fault():
    try:
        hw.read32(0)
    except hw.CPUFault as e:
        return (e.args[1], e.args[4])       # vector, the CR2 it left

def cr2_round_trip():
    vm = hv.VM(1 << 20)
    try:
        c = vm.new_vcpu()
        vm.write(guests.LOAD, guests.CR2)
        c.set_entry(guests.LOAD)
        c.setup('long')
        c.bind()
        e1 = c.run().as_tuple()[:2]
        saved, fault = c.cr2, host_fault()
        e2 = c.run().as_tuple()[:2]
        read = c.get_gpr(8)
        c.cr2 = 0x1234000
        e3 = c.run().as_tuple()
        return (e1, saved, fault, e2, read, e3, c.get_gpr(9))
    finally:
        vm.close()
"""
MARKER = 0x00007E57C2C2B000                 # tests/guests/cr2.asm
CR2_EXPECTED = (("IoWrite", 0x600), MARKER, (14, 0), ("IoWrite", 0x600), MARKER,
                ("Halt",), 0x1234000)


@pytest.fixture(scope="module")
def bochs_vmx():
    with booted("bochs", iso=image(ISO), model="corei7_skylake_x") as repl:
        repl.exec("import hv, hw, vmx, guests, sys\nfrom hv.vcpu.vmx import defs, fields as F")
        yield repl


def spin_vcpu(mode="real"):
    # Guest RFLAGS.IF = 1: Bochs 2.7 loads the guest RFLAGS before it marks
    # the CPU as a VMX guest (cpu/vmx.cc, VMenterLoadCheckGuestState), so an
    # entry with IF = 0 masks INTR as for the host and no physical interrupt
    # exits until the guest sets IF; on hardware, external-interrupt exiting
    # ignores the guest's IF (SDM 3C 26.2). The guest has no IDT: with
    # external-interrupt exiting it never sees the interrupt either way.
    return (f"vm := hv.VM(1 << 20), c := vm.new_vcpu(), vm.write(0x10000, guests.SPIN), "
            f"c.set_entry(0x10000), c.setup({mode!r}), c.bind(), setattr(c, 'rflags', 0x202)")


def test_capability_msrs_match_the_host_fakes(bochs_vmx):
    for msr in sorted(m for m in BOCHS_MSRS if 0x480 <= m <= 0x490 or m == 0x3A):
        assert bochs_vmx.eval(f"hw.rdmsr({msr:#x})") == BOCHS_MSRS[msr], hex(msr)


def test_guest_cr2_survives_a_host_page_fault(bochs_vmx):
    # CR2 is not in the VMCS (SDM 3C 25.4.1): port/vmx.asm switches it, so a
    # page fault the host takes between two entries (here hw.read32(0),
    # page 0 unmapped) does not reach the guest, and Python reads and
    # writes the guest's value as vcpu.cr2 (guests.CR2: R8, R9 what it read).
    bochs_vmx.exec(CR2_SETUP)
    assert bochs_vmx.eval("cr2_round_trip()", timeout=120) == CR2_EXPECTED


def test_pit_interrupt_is_an_external_interrupt_exit(bochs_vmx):
    # PIT channel 0 as a rate generator (8254 mode 2), IRQ 0 unmasked for the
    # run: the guest spins, so only the interrupt ends run(). The exit took
    # the vector from the PIC and the host's handler sent the EOI.
    got = bochs_vmx.eval(f"""(lambda: (
        {spin_vcpu()},
        imr := hw.inb(0x21), hw.outb(0x43, 0x34), hw.outb(0x40, 0xFF), hw.outb(0x40, 0xFF),
        hw.outb(0x21, imr & 0xFE), e := c.run().as_tuple(), hw.outb(0x21, imr),
        rip := c.rip, vm.close(), hw.outb(0x20, 0x0B), isr := hw.inb(0x20),
        (e, rip, isr))[-1])()""",
                         timeout=120)
    assert got == (("ExternalInterrupt", 32), 0, 0)


def test_com1_interrupt_reaches_the_host_console(bochs_vmx):
    # A byte typed while the guest spins: exit with vector 36 (IRQ 4), and the
    # host's UART handler has the byte for sys.stdin.
    timer = threading.Timer(1.0, bochs_vmx.machine.write, (b"x",))
    timer.start()
    got = bochs_vmx.eval(f"""(lambda: (
        {spin_vcpu('long')}, e := c.run().as_tuple(), vm.close(), (e, sys.stdin.read(1)))[-1])()""",
                         timeout=120)
    timer.join()
    assert got == (("ExternalInterrupt", 36), "x")


def test_ctrl_c_stops_a_spinning_guest(bochs_vmx):
    bochs_vmx.exec("vm = hv.VM(1 << 20)\nc = vm.new_vcpu()\nvm.write(0x10000, guests.SPIN)\n"
                   "c.set_entry(0x10000)\nc.setup('protected')\nc.rflags = 0x202  # see spin_vcpu")
    timer = threading.Timer(1.0, bochs_vmx.machine.write, (b"\x03",))
    timer.start()
    out = bochs_vmx.exec("try:\n    vm.run(c, echo=False)\nexcept KeyboardInterrupt:\n"
                         "    print('interrupted')\nvm.close()", timeout=120)
    timer.join()
    assert out.strip() == "interrupted"
    assert bochs_vmx.eval("2**70") == 2**70


def test_invalid_guest_state_names_the_check(bochs_vmx):
    e = bochs_vmx.eval("""(lambda: (
        vm := hv.VM(1 << 20), c := vm.new_vcpu(), c.setup('protected'), c.bind(),
        c.vmcs.write32(F.GUEST_TR_AR_BYTES, 0x89), r := c.run().copy(),
        c.vmcs.write32(F.GUEST_TR_AR_BYTES, defs.AR_TSS_BUSY), vm.write(0x10000, guests.SPIN),
        c.set_entry(0x10000), c.set_preemption_timer(1000), again := c.run().reason,
        vm.close(), (r.reason, r.code, r.message, again))[-1])()""")
    assert e[:2] == ("FailEntry", 0x80000021)
    assert "invalid guest state" in e[2]
    assert "guest TR access rights 0x89 are not a present busy TSS" in e[2]
    assert e[3] == "Nothing"                # the same vCPU enters fine once fixed
    with open(bochs_vmx.machine.bochs_log, errors="replace") as f:
        log = f.read()
    assert "VMENTER FAIL: VMCS guest incorrect TR type" in log


def test_vmcs_link_pointer_is_named(bochs_vmx):
    e = bochs_vmx.eval("""(lambda: (
        vm := hv.VM(1 << 20), c := vm.new_vcpu(), c.setup('long'), c.bind(),
        c.vmcs.write64(F.VMCS_LINK_POINTER, 0), r := c.run().copy(), vm.close(),
        (r.code, r.message))[-1])()""")
    assert e[0] == 0x80000021 and "invalid VMCS link pointer" in e[1]


def test_vmfail_names_the_error(bochs_vmx):
    e = bochs_vmx.eval("""(lambda: (
        vm := hv.VM(1 << 20), c := vm.new_vcpu(), c.setup('long'), c.bind(),
        c.vmcs.write16(F.HOST_TR_SELECTOR, 0), r := c.run().copy(), vm.close(),
        (r.reason, r.code, r.message))[-1])()""")
    assert e[:2] == ("FailEntry", 8)
    assert "VM entry with invalid host-state field(s)" in e[2] and "host TR selector is 0" in e[2]


def test_vmx_on_only_while_a_vcpu_lives(bochs_vmx):
    before, during, after, free = bochs_vmx.eval("""(lambda: (
        f0 := hv.frames.free_count(), b := hw.cr4(), vm := hv.VM(1 << 20), c := vm.new_vcpu(),
        d := hw.cr4(), vm.close(), (b, d, hw.cr4(), hv.frames.free_count() - f0))[-1])()""")
    assert not before & (1 << 13) and during & (1 << 13) and after == before and free == 0


def test_preallocated_ram_uses_2m_pages(bochs_vmx):
    got = bochs_vmx.eval("""(lambda: (
        f0 := hv.frames.free_count(), vm := hv.VM(8 << 20, prealloc=True), c := vm.new_vcpu(),
        big := vm.gpa_to_hpa(0x400000) % (2 << 20) == 0 and len(vm._large) > 0,
        vm.write(0x10000, guests.LONG64), c.set_entry(0x10000), c.setup('long'),
        vm.vmm.ports.update({0x600: 0xA5A5A5A5}), vm.vmm.msrs.update({0x4D500001: 0}),
        r := vm.run(c, echo=False), vm.close(),
        (big, r.reason, r.output.count(b' ok'), hv.frames.free_count() - f0))[-1])()""",
                         timeout=300)
    assert got[0] and got[1] == "Halt" and got[2] >= 10 and got[3] == 0


def test_read_only_caller_mapping(bochs_vmx):
    got = bochs_vmx.eval("""(lambda: (
        f0 := hv.frames.free_count(), page := hv.PhysFrame.alloc(hv.frames),
        hw.write32(page.start_paddr, 0x1234ABCD),
        vm := hv.VM(16 << 20), c := vm.new_vcpu(), vm.write(0x10000, guests.MMIO),
        c.set_entry(0x10000), c.setup('long'), vm.map(0x3000000, page.start_paddr, 0x1000, 'r'),
        r := vm.run(c, trace=True, echo=False), rax := c.get_gpr(0),
        vm.close(), page.close(), (r.trace, rax, hv.frames.free_count() - f0))[-1])()""",
        timeout=120)
    assert got == ([("NestedPageFault", 0x3000004, "wp")], 0x1234ABCD, 0)


def test_cr_accesses_are_emulated(bochs_vmx):
    code = assemble(CR_GUEST)
    got = bochs_vmx.eval(f"""(lambda: (
        vm := hv.VM(16 << 20), c := vm.new_vcpu(), vm.write(0x10000, {code!r}),
        c.set_entry(0x10000), c.setup('long'), c.bind(),
        c.vmcs.writen(F.CR0_GUEST_HOST_MASK, c.cr0_mask | 0xF),
        e := c.run().reason, g := c.gprs, real := c.vmcs.readn(F.GUEST_CR0),
        vm.close(), (e, g[3], g[11], g[13], g[14], g[12], real, c.tpr))[-1])()""", timeout=120)
    reason, rbx, r11, r13, r14, r12, real, tpr = got
    assert reason == "Halt"
    assert not rbx & 0x20 and rbx & 0x8                 # NE hidden, TS set
    assert r11 == 5 and tpr == 5
    assert not r13 & 0x8                                # CLTS
    assert r14 & 0xF == 0x9 and r12 & 0xF == 0xB        # LMSW ax, LMSW [mem]
    assert real & 0x20 and real & 0xF == 0xB            # NE stays on underneath


def test_preemption_timer(bochs_vmx):
    got = bochs_vmx.eval(f"""(lambda: (
        {spin_vcpu('long')}, c.set_preemption_timer(5000), a := c.run().reason,
        b := c.run().reason, c.set_preemption_timer(None), vm.close(), (a, b))[-1])()""")
    assert got == ("Nothing", "Nothing")


def test_1g_ept_page(bochs_vmx):
    # Host memory 0..1 GiB as guest-physical 1..2 GiB in one 1 GiB EPT leaf,
    # read-only; the guest (64-bit, identity map of 2 GiB) reads a host frame
    # through it: mov rbx, imm64; mov rax, [rbx]; hlt.
    got = bochs_vmx.eval("""(lambda: (
        f0 := hv.frames.free_count(), page := hv.PhysFrame.alloc(hv.frames),
        hw.write64(page.start_paddr, 0x1122334455667788),
        vm := hv.VM(2 << 30), c := vm.new_vcpu(),
        vm.write(0x10000, b'\\x48\\xbb' + ((1 << 30) + page.start_paddr).to_bytes(8, 'little')
                 + b'\\x48\\x8b\\x03\\xf4'),
        c.set_entry(0x10000), c.setup('long'), vm.map(1 << 30, 0, 1 << 30, 'r'),
        size := vm.npt._leaf((1 << 30) + page.start_paddr)[3],
        r := vm.run(c, trace=True, echo=False), rax := c.get_gpr(0),
        vm.close(), page.close(), (size, r.trace, rax, hv.frames.free_count() - f0))[-1])()""",
                         timeout=120)
    assert got == (1 << 30, [("Halt",)], 0x1122334455667788, 0)


def test_repl_one_liner_echoes_guest_output(bochs_vmx):
    out = bochs_vmx.exec("r = hv.run_guest(guests.PROT32, 'protected', ports={0x600: 0xA5A5A5A5}, "
                         "msrs={0x4D500001: 0}); print(r)", timeout=300)
    assert "protected: hello\n" in out and "irq window ok" in out and "BAD" not in out
    assert "<RunResult Halt after" in out


def test_demo_guest_through_hv_boot():
    # The multiboot demo (demos/demo.asm: VMCALL on Intel, PIT interrupts
    # through the emulated PIC) at ips=200M: at the default 10M a Python
    # exit costs more emulated time than the guest's 10 ms timer period, so
    # its ISR never gets back to the main loop (both back ends alike).
    with booted("bochs", iso=image(ISO), model="corei7_skylake_x", ips=200_000_000) as repl:
        out = repl.exec("r = __import__('hv').boot('demo', trace=True); print(r.result)",
                        timeout=300)
    assert "guest| 3 timer interrupts taken: ok" in out and "guest| PASS" in out
    assert out.rstrip().endswith("\n0") and "Hypercall nr=0x1" in out
