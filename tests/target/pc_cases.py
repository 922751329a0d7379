# The PC's devices on a booted mpvisor, as test functions that test_pc_qemu.py
# (AMD SVM, QEMU TCG) and test_pc_bochs.py (Intel VMX, Bochs corei7_skylake_x;
# AMD SVM, Bochs ryzen) import with their own module-scoped `repl` and
# `target` fixtures. The guest (tests/guests/pcdev.asm) checks each device
# the way a test kernel would and prints "<check> ok" or "<check> BAD"; then
# it ends by port 0xF4, ACPI S5, the 8042 reset pulse or the reset register.
import ast

SETUP = """
import hv, guests, struct

def run_pc(end, mem=16 << 20, apic=False):
    free0 = hv.frames.free_count()
    vm = hv.VM(mem)
    try:
        c = vm.load_flat(guests.PCDEV, guests.LOAD, guests.LOAD, 'long')
        vm.write(0x18000, struct.pack('<3Q', end, mem, apic))
        if apic:
            vm.vmm.enable_apic()
        vm.vmm.unhandled_io = 'stop'        # strict: a port no device has ends the run
        r = vm.run(c, echo=False, max_exits=5000000)
        out = {'reason': r.reason, 'result': r.result, 'output': r.output.decode(),
               'exits': r.exits, 'report': r.report}
    finally:
        vm.close()
    out['free_delta'] = hv.frames.free_count() - free0
    return out
"""

CHECKS = ["pit ch2 counts, out 2 high at 0x61", "rtc ticks, bcd seconds", "rtc binary mode",
          "rtc periodic interrupt on irq 8", "uart mcr loopback", "uart thre interrupt on irq 4",
          "rsdp found by the scan, checksums", "rsdt checksum", "xsdt checksum",
          "fadt found, checksum", "madt as the apics say, checksum", "pm timer advances",
          "fw_cfg signature", "fw_cfg ram size", "pci scan: 440fx only"]


def run(repl, end, target, apic=False):
    return ast.literal_eval(repr(repl.eval(f"run_pc({end}, apic={apic})", timeout=target["timeout"])))


def test_every_device_answers_as_a_test_kernel_expects(repl, target):
    for apic in (False, True):          # the PIC's interrupts reach the CPU through LINT0 then
        got = run(repl, 0, target, apic)
        lines = got["output"].splitlines()
        assert lines == [c + " ok" for c in CHECKS] + ["pc: bye"], got["output"] + got["report"]
        assert (got["reason"], got["result"], got["free_delta"]) == ("DebugExit", 0, 0)


def test_acpi_s5_ends_the_vm_as_a_poweroff(repl, target):
    got = run(repl, 1, target)
    assert got["output"].endswith("pc: bye\n") and "BAD" not in got["output"], got["output"]
    assert (got["reason"], got["free_delta"]) == ("PowerOff", 0), got["report"]
    assert "powered the machine off" in got["report"]


def test_8042_pulse_and_reset_register_end_the_vm_as_a_reset(repl, target):
    for end in (2, 3):
        got = run(repl, end, target)
        assert got["output"] == "pc: bye\n"
        assert (got["reason"], got["free_delta"]) == ("Reset", 0), got["report"]
