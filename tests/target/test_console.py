# Console behaviour on QEMU: Ctrl-C interrupts running Python, Ctrl-D soft
# reboots, and a fault outside recoverable Python context stops the machine
# loudly. Each test boots its own machine: they change global state.
import re
import time

from conftest import ELF, image


def test_ctrl_c_interrupts_a_running_loop(boot):
    repl = boot(kernel=image(ELF))
    repl.friendly("n = 0")
    repl.machine.write(b"while True: n += 1\r\r")
    repl.machine.read_until(b"while True", timeout=5)
    time.sleep(1.0)
    repl.ctrl_c()
    out = repl.machine.read_until(b">>> ", timeout=10).decode(errors="replace")
    assert "KeyboardInterrupt" in out
    assert repl.friendly("print(n > 1000)").strip() == "True"


def test_soft_reboot_resets_state_and_reruns_boot_script(boot):
    repl = boot(kernel=image(ELF))
    repl.exec("marker = 12345")
    assert repl.eval("marker") == 12345
    banner = repl.soft_reboot()
    assert "MPY: soft reboot" in banner and "mpvisor: a hypervisor in MicroPython" in banner
    assert repl.eval("'marker' in globals()") is False
    assert repl.eval("1 + 1") == 2


def test_fault_outside_python_context_stops_the_machine(boot):
    # With the GC heap locked MicroPython cannot build an exception object,
    # so the fault is fatal: full report on serial, non-zero exit status.
    repl = boot(kernel=image(ELF))
    repl.send_raw_code("import micropython, hw\nmicropython.heap_lock()\nhw.read32(0x18)\n")
    out = repl.machine.read_until(b"exit status 112\r\n", timeout=10).decode(errors="replace")
    assert "FATAL CPU exception #PF page fault (vector 14) error code 0x0" in out
    assert re.search(r"cr2 0000000000000018", out)
    for reg in ("rip", "rax", "rsp", "r15", "cr3", "rflags"):
        assert reg in out
    assert repl.machine.wait(timeout=10) == (0x70 << 1) | 1


def test_exit_status_reaches_the_emulator(boot):
    repl = boot(kernel=image(ELF))
    repl.send_raw_code("import hw\nhw.exit(5)\n")
    assert repl.machine.wait(timeout=10) == (5 << 1) | 1


def test_input_sent_while_python_is_busy_arrives_whole(boot):
    # 12 KB typed while Python reads nothing overflows the console's 4 KiB
    # ring: it used to drop the rest (a pasted payload lost its Ctrl-D and
    # the raw REPL waited forever). The UART now holds input until there is room.
    repl = boot(kernel=image(ELF))
    repl.send_raw_code("import hw, sys\n"
                       "t = hw.rdtsc() + 2 * hw.tsc_hz()\n"
                       "while hw.rdtsc() < t: pass\n"
                       "n = 0\n"
                       "while sys.stdin.read(1) != '!': n += 1\n"
                       "print('got', n)\n")
    assert repl.machine.read_until(b"OK", timeout=10) == b"OK"
    repl.machine.write(b"a" * 12000 + b"!")
    out = repl.machine.read_until(b"\x04", timeout=60).decode(errors="replace")
    assert "got 12000" in out, out
