# The MicroPython port on QEMU (-kernel): language features the hypervisor
# relies on, the hw natives, the boot information and CPU faults as
# Python exceptions. One boot for the whole module.
import pytest

from harness.repl import RemoteError


def test_integers_beyond_64_bits(qemu_repl):
    assert qemu_repl.eval("2**64 + 1") == 2**64 + 1
    assert qemu_repl.eval("(1 << 200) // 3") == (1 << 200) // 3
    assert qemu_repl.eval("0xFFFFFFFFFFFFFFFF & ~(1 << 63)") == 0x7FFFFFFFFFFFFFFF


def test_exceptions_and_tracebacks(qemu_repl):
    assert qemu_repl.eval("[type(e).__name__ for e in [ValueError('x')]]") == ["ValueError"]
    with pytest.raises(RemoteError, match="ZeroDivisionError"):
        qemu_repl.exec("1 // 0")
    assert qemu_repl.eval("1 + 1") == 2    # the REPL survived


def test_struct_and_floats(qemu_repl):
    assert qemu_repl.eval("__import__('struct').pack('<QI', 2**63, 7)") == b"\x00" * 7 + b"\x80\x07\x00\x00\x00"
    assert qemu_repl.eval("__import__('struct').unpack('<q', b'\\xff' * 8)") == (-1,)
    assert qemu_repl.eval("round(__import__('math').sqrt(2) * 1e6)") == 1414214
    assert qemu_repl.eval("'%.3f' % __import__('math').sin(1.0)") == "0.841"


def test_cpuid_vendor_string(qemu_repl):
    qemu_repl.exec("import hw, struct")
    regs = qemu_repl.eval("hw.cpuid(0)")
    import struct
    assert struct.pack("<3I", regs[1], regs[3], regs[2]) == b"AuthenticAMD"
    assert qemu_repl.eval("hw.cpuid(0x80000001)[2] & 4") == 4      # SVM advertised


def test_efer_in_long_mode(qemu_repl):
    efer = qemu_repl.eval("hw.efer()")
    assert efer & (1 << 8) and efer & (1 << 10)                     # LME and LMA
    assert qemu_repl.eval("hw.rdmsr(0xC0000080)") == efer
    assert qemu_repl.eval("hw.cr0() >> 31") == 1                    # paging on
    assert qemu_repl.eval("hw.cr4() & (1 << 5)") != 0               # PAE
    # PSE and PGE as Linux sets them: a world switch to such a guest then
    # changes no CR4 bit QEMU TCG flushes its TLB for (boot/entry.asm).
    assert qemu_repl.eval("hw.cr4() & 0x90") == 0x90


def test_local_apic_version_via_physical_memory(qemu_repl):
    base = qemu_repl.eval("hw.rdmsr(0x1B) & ~0xFFF")                # IA32_APIC_BASE
    assert base == 0xFEE00000
    version = qemu_repl.eval(f"hw.read32({base} + 0x30)")
    assert version & 0xFF in range(0x10, 0x16)                      # integrated APIC
    assert (version >> 16) & 0xFF >= 3                              # max LVT entry
    assert qemu_repl.eval(f"bytes(hw.mem({base} + 0x30, 4))") == version.to_bytes(4, "little")


def test_physical_memory_round_trip(qemu_repl):
    qemu_repl.exec("m = hw.mem(0x7000000, 4096); m[:4] = b'\\x01\\x02\\x03\\x04'")
    assert qemu_repl.eval("hw.read32(0x7000000)") == 0x04030201
    qemu_repl.exec("hw.write64(0x7000008, 2**64 - 2)")
    assert qemu_repl.eval("hw.read64(0x7000008)") == 2**64 - 2
    assert qemu_repl.eval("hw.read16(0x700000E)") == 0xFFFF
    with pytest.raises(RemoteError, match="outside the identity map"):
        qemu_repl.exec("hw.mem(hw.identity_limit() - 8, 16)")


def test_port_io_reads_the_uart(qemu_repl):
    # Line status register of COM1: transmitter empty bits set when idle.
    assert qemu_repl.eval("hw.inb(0x3FD) & 0x60") == 0x60
    qemu_repl.exec("hw.outb(0x3FF, 0xA5)")                          # scratch register
    assert qemu_repl.eval("hw.inb(0x3FF)") == 0xA5


def test_xgetbv_without_xsave_is_invalid_opcode(qemu_repl):
    # qemu64 has no XSAVE, so CR4.OSXSAVE stays clear and XGETBV is #UD
    # (SDM 2B XGETBV); tests/target/test_bochs.py reads XCR0 where it exists.
    assert qemu_repl.eval("hw.cpuid(1)[2] >> 26 & 1") == 0
    with pytest.raises(RemoteError, match=r"CPUFault: #UD invalid opcode"):
        qemu_repl.exec("hw.xgetbv(0)")


def test_tsc(qemu_repl):
    assert qemu_repl.eval("(lambda a: hw.rdtsc() - a)(hw.rdtsc())") > 0
    assert qemu_repl.eval("hw.tsc_hz()") > 10_000_000


def test_memory_map_sanity(qemu_repl):
    qemu_repl.exec("import multiboot; bi = multiboot.info()")
    mmap = qemu_repl.eval("bi.memory_map")
    available = [(b, l) for b, l, t in mmap if t == 1]
    assert sum(l for _, l in available) > 250 * 2**20                # -m 256M
    start, end = qemu_repl.eval("hw.kernel_range()")
    assert start == 0x100000
    assert any(b <= start and end <= b + l for b, l in available)   # kernel inside RAM
    assert qemu_repl.eval("hw.identity_limit()") >= max(b + l for b, l in available)
    assert qemu_repl.eval("bi.loader_name") == "qemu"


def test_page_fault_becomes_python_exception(qemu_repl):
    out = qemu_repl.exec(
        "try:\n"
        "    hw.read64(0x10)\n"
        "except hw.CPUFault as e:\n"
        "    print(e.vector, e.error_code, hex(e.cr2), e.rip > 0x100000, str(e))\n")
    assert out.startswith("14 0 0x10 True #PF page fault (vector 14, error code 0x0) at rip 0x")
    with pytest.raises(RemoteError, match=r"CPUFault: #PF page fault .* address 0x0"):
        qemu_repl.exec("hw.read8(0)")
    assert qemu_repl.eval("6 * 7") == 42                            # REPL alive


def test_vendor_detection(qemu_repl):
    assert qemu_repl.eval("__import__('hv').vendor()") == "amd"
    assert qemu_repl.eval("__import__('hv').cpu().svm[0]") is True
    assert qemu_repl.eval("__import__('hv').cpu().vmx[0]") is False


def test_paste_mode(qemu_repl):
    out = qemu_repl.paste("def f(n):\n    if n:\n        return n * f(n - 1)\n    return 1\nprint(f(25))\n")
    assert "15511210043330985984000000" in out


def test_natives_do_not_allocate_for_small_values(qemu_repl):
    # Exit handlers call these on every VM exit: with the heap locked any
    # allocation raises MemoryError.
    out = qemu_repl.exec(
        "import micropython\n"
        "def f():\n"
        "    i = 0\n"
        "    while i < 100:\n"
        "        x = hw.read64(0x1000); y = hw.rdmsr(0xC0000080); z = hw.inb(0x3FD); i += 1\n"
        "r = 'allocates'\n"                  # bound before the lock: no dict growth
        "micropython.heap_lock()\n"
        "try:\n"
        "    f(); r = 'no allocation'\n"
        "except MemoryError:\n"
        "    r = 'allocates'\n"
        "micropython.heap_unlock()\n"
        "print(r)\n")
    assert out.strip() == "no allocation"
    assert qemu_repl.eval("hw.read64(0x7000008) if hw.write64(0x7000008, 2**64 - 1) is None else 0") == 2**64 - 1


def test_help_says_where_to_start(qemu_repl):
    out = qemu_repl.exec("help()")
    assert "hv.help() lists its API" in out and "docs/tutorial.md" in out
    out = qemu_repl.exec("import hv\nhv.help()")
    for line in ("hv.boot(image, cmdline=None", "vm.vmm.hypercalls[nr] = fn",
                 "c.complete(value)", "UnhandledPort UnknownHypercall ExitBudget"):
        assert line in out, out
    assert qemu_repl.exec("hv.help('vcpu')").startswith("c.bind(); e = c.run()")
    assert "ValueError: hv.help topics" in qemu_repl.exec_raw("hv.help('nosuch')")[1]
