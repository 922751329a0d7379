# The multiboot guests of demos/ and the loader on a booted mpvisor, as test
# functions that test_multiboot_qemu.py (AMD SVM, QEMU TCG) and
# test_multiboot_bochs.py (Intel VMX, Bochs) import, each with its own
# module-scoped `repl` fixture: the same calls must give the same results.
import re

RUN = """
def run(image, cmdline='', mem=32 << 20):
    free0 = hv.frames.free_count()
    vm = hv.VM(mem)
    vm.load_multiboot(image, cmdline)
    r = vm.run(trace=True, echo=False)
    vm.close()
    return {'reason': r.reason, 'result': r.result, 'trace': r.trace,
            'output': r.output.decode(), 'free_delta': hv.frames.free_count() - free0}
"""


def lines(text):
    return text.replace("\r\n", "\n").splitlines()


def test_demo_guest_cpuid_hypercall_timer_and_exit_port(repl):
    repl.exec(RUN)
    got = repl.eval("run(demos.DEMO, 'demo')", timeout=300)
    assert lines(got["output"]) == [
        "started by a multiboot loader: ok", "hello from the demo guest",
        "CPUID says a hypervisor is present: ok", "CPUID 0x40000000 signature is mpvisor: ok",
        "hypercall HC_ADD(40, 2) returned 42: ok", "3 timer interrupts taken: ok", "PASS"]
    assert (got["reason"], got["result"], got["free_delta"]) == ("DebugExit", 0, 0)
    t = got["trace"]
    assert t[:9] == [("Hypercall", 1, (40, 2, 0, 0, 0, 0)),
                     ("IoWrite", 0x20, 1, 0x11), ("IoWrite", 0x21, 1, 0x20),
                     ("IoWrite", 0x21, 1, 0x04), ("IoWrite", 0x21, 1, 0x01),
                     ("IoWrite", 0x21, 1, 0xFE), ("IoWrite", 0x43, 1, 0x34),
                     ("IoWrite", 0x40, 1, 11932 & 0xFF), ("IoWrite", 0x40, 1, 11932 >> 8)]
    assert t.count(("IoWrite", 0x20, 1, 0x20)) == 3 and ("Halt",) in t     # 3 EOIs, waited in HLT
    # The guest's own last two exits: the host's timer (the guest's PIT
    # still runs) may interrupt it between them, and the trace shows that
    # too (seen in 5 of 25 runs: OUT 0x80, ExternalInterrupt, OUT 0xF4).
    own = [x for x in t if x[0] != "ExternalInterrupt"]
    assert own[-2][:3] == ("IoWrite", 0x80, 1) and own[-1] == ("IoWrite", 0xF4, 1, 0), t[-8:]


def test_elf32_guest_reads_its_command_line_and_memory_map(repl):
    repl.exec(RUN)
    for mem, upper in ((8 << 20, "00700000"), (48 << 20, "02f00000")):
        got = repl.eval(f"run(demos.MBINFO32, 'course kernel x=1', {mem})", timeout=300)
        assert lines(got["output"]) == [
            "started by a multiboot loader: ok",
            "info has memory sizes, command line and memory map: ok",
            "cmdline: course kernel x=1",
            "mmap 00000000 0009fc00 type 00000001", "mmap 0009fc00 00000400 type 00000002",
            "mmap 000f0000 00010000 type 00000002", f"mmap 00100000 {upper} type 00000001",
            "available RAM above 1 MiB equals mem_upper: ok", "mem_lower is 639 KiB: ok", "PASS"]
        assert (got["result"], got["free_delta"]) == (0, 0)


def test_elf64_guest_enters_long_mode(repl):
    repl.exec(RUN)
    got = repl.eval("run(demos.HELLO64)", timeout=300)
    assert lines(got["output"]) == ["started by a multiboot loader: ok",
                                    "running in 64-bit long mode: ok", "64-bit arithmetic: ok", "PASS"]
    assert got["result"] == 0 and ("SysRegRead", 0xC0000080) not in got["trace"]   # EFER inside


def test_aout_guest_spins_through_ticks_and_reads_a_line(repl):
    repl.exec("free0 = hv.frames.free_count()")
    repl.send_raw_code("r = hv.boot('echo', prefix='')\nprint(r.result)")
    m = repl.machine
    m.read_until(b"OK", 30)
    assert m.read_until(b"type a line: ", 300).endswith(b"spun until 5 timer interrupts\r\ntype a line: ")
    m.write(b"hello\r")
    out = m.read_until(b"\x04>", 300)
    assert out.startswith(b"hello\r\nread 00000005 bytes\r\n5\r\n\x04\x04>"), out
    assert repl.eval("hv.frames.free_count() - free0") == 0


def test_boot_sector_and_flat_long_mode(repl):
    got = repl.eval("""(lambda: (
        vm := hv.VM(1 << 20), c := vm.load_flat(demos.BOOTSECT, 0x7C00, 0x7C00, 'real'),
        r := vm.run(echo=False), vm.close(),
        vm2 := hv.VM(16 << 20), c2 := vm2.load_flat(guests.LONG64, 0x10000, 0x10000, 'long'),
        vm2.vmm.ports.update({0x600: 0xA5A5A5A5}), vm2.vmm.msrs.update({0x4D500001: 0}),
        r2 := vm2.run(echo=False), vm2.close(),
        (r.result, r.output, r2.reason, r2.output.count(b' ok')))[-1])()""", timeout=300)
    assert got[:2] == (0x42, b"hello from a boot sector\r\n")
    assert got[2] == "Halt" and got[3] >= 10


# hv.boot() of an image: 'booted', or the ImageError's text.
TRY_BOOT = """
def try_boot(image, **kw):
    try:
        hv.boot(image, echo=False, **kw)
    except hv.ImageError as e:
        return str(e)
    return 'booted'
"""


def test_malformed_images_raise_and_the_hypervisor_runs_on(repl):
    repl.exec(TRY_BOOT + """
bad_sum = bytearray(demos.DEMO)
bad_sum[8] ^= 0xFF
free0 = hv.frames.free_count()
""")
    got = repl.eval("[try_boot(bytes(4096)), try_boot(bad_sum), try_boot('hello64', mem=1 << 20), "
                    "try_boot(demos.MBINFO32[:4200]), hv.frames.free_count() - free0, "
                    "hv.boot('hello64', echo=False).result]", timeout=300)
    assert got[0] == "no multiboot header (magic 0x1BADB002) in the first 8192 bytes"
    assert got[1].startswith("multiboot header at offset 0x0 has a bad checksum")
    assert got[2].startswith("segment at 0x100000-") and "lies outside guest RAM (0x100000 bytes)" in got[2]
    assert got[3].startswith("the file is truncated: segment 0 needs bytes up to")
    assert got[4:] == [0, 0]


def test_a_polled_console_is_served_by_the_natives(repl):
    # hv.vcpu.fastio: hello64's putc polls LSR and writes THR, byte by byte;
    # the natives answer both (port/natives.h), the output is the same and
    # in order, and a trace (every exit out) still sees each access.
    repl.exec("""
def console_exits(trace=False):
    vm = hv.VM(32 << 20)
    try:
        c = vm.load_multiboot(demos.ALL['hello64'], 'hello64')
        served = c.native.fast_served()
        r = vm.run(echo=False, trace=trace)
        return {'output': r.output.decode(), 'served': c.native.fast_served() - served,
                'exits': c.exits, 'result': r.result}
    finally:
        vm.close()
""")
    fast, traced = repl.eval("[console_exits(), console_exits(True)]", timeout=300)
    assert fast["output"] == traced["output"] and len(fast["output"]) > 20
    assert (fast["result"], traced["result"]) == (0, 0)
    n = len(fast["output"])
    assert 2 * n <= fast["served"] < fast["exits"] and traced["served"] == 0, (fast, traced)


def test_ctrl_c_stops_a_guest_and_keeps_the_vm(repl):
    repl.exec("free0 = hv.frames.free_count()")
    repl.send_raw_code("hv.boot('echo', prefix='')")
    m = repl.machine
    m.read_until(b"type a line: ", 300)
    m.write(b"\x03")
    out = m.read_until(b"\x04>", 60)
    assert b"hv.boot: stopped by Ctrl-C; the VM is hv.last_vm" in out and b"KeyboardInterrupt" in out
    rip, header = repl.eval("(hv.last_vm.vcpus[0].rip, hv.last_vm.read(0x300000, 4))")
    assert 0x300000 < rip < 0x301000 and header == b"\x02\xb0\xad\x1b"
    assert repl.eval("(hv.last_vm.close(), hv.frames.free_count() - free0)[1]") == 0


def test_trace_prints_the_exits(repl):
    out = repl.exec("r = hv.boot('hello64', trace=True, prefix='')", timeout=300)
    assert "64-bit arithmetic: ok\n" in out
    assert re.search(r"^\[exit \d+\] IoWrite port=0xf4 width=1 data=0x0 \(debug-exit\) "
                     r"at rip 0x10[0-9a-f]{4}$", out, re.M), out
    assert out.rstrip().endswith("bytes of output>") and "[vm] <RunResult DebugExit(0) after" in out


def test_images_are_named(repl):
    assert repl.eval("hv.images()") == ["bootsect", "demo", "echo", "hello64", "mbinfo32", "sieve"]
    err = repl.exec_raw("hv.boot('nosuch')")[1]
    assert "ValueError: no image named 'nosuch'; hv.images() lists them" in err


# -- boot modules and a kernel linked low (tests/guests/mbmods.asm) -----------
def fnv(data):
    """FNV-1a (32-bit) of data, as the guest hashes each module."""
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def mbmods_lines(cmdline, modules):
    out = ["started by a multiboot loader ok", "info outside the kernel ok", "flags has mods ok",
           f"cmdline: {cmdline}", f"mods_count {len(modules):08x}"]
    for data, text in modules:
        out += ["module outside the kernel ok", "module page-aligned ok",
                f"module {len(data):08x} fnv {fnv(data):08x} string {text}"]
    return out + ["the kernel's own bytes intact ok"]


def test_kernel_linked_low_gets_two_modules_from_hv_boot(repl):
    repl.exec("free0 = hv.frames.free_count()")
    got = repl.eval("(lambda r: (r.reason, r.result, r.output.decode(), hv.frames.free_count() - free0))("
                    "hv.boot(guests.MBMODS, 'low kernel x=1', echo=False, modules=["
                    "(bytes(range(256)) * 17 + b'tail', 'first.mod a=1'), (b'\\x5a' * 4097, 'second')]))",
                    timeout=300)
    modules = [(bytes(range(256)) * 17 + b"tail", "first.mod a=1"), (b"\x5a" * 4097, "second")]
    assert lines(got[2]) == mbmods_lines("low kernel x=1", modules)
    assert got[:2] == ("DebugExit", 0) and got[3] == 0


BIG = """
import gc
def big_boot(mem, n):
    gc.collect()
    free0 = hv.frames.free_count()
    mods = [(bytes(range(256)) * (n // 256), 'big'), (b'small', 'small')]
    gc.collect()
    a0 = gc.mem_alloc()
    vm = hv.VM(mem)
    vm.load_multiboot(guests.MBMODS, 'big', modules=mods)
    gc.collect()
    held = gc.mem_alloc() - a0
    r = vm.run(echo=False)
    vm.close()
    out = (r.reason, r.result, r.output.decode(), held, hv.frames.free_count() - free0)
    del vm, r, mods
    return out
"""


def test_128_mib_guest_with_a_3_mib_module(repl):
    repl.exec(BIG)
    reason, result, output, held, free_delta = repl.eval("big_boot(128 << 20, 3 << 20)", timeout=600)
    modules = [(bytes(range(256)) * (3 << 12), "big"), (b"small", "small")]
    assert lines(output) == mbmods_lines("big", modules)
    assert (reason, result, free_delta) == ("DebugExit", 0, 0)
    print(f"heap held by the loaded 128 MiB VM with a 3 MiB module: {held} bytes")


def test_malformed_modules_raise_and_leave_no_frame(repl):
    repl.exec(TRY_BOOT + """
def bad_load(vm, modules):
    try:
        vm.load_multiboot(guests.MBMODS, modules=modules)
    except hv.ImageError as e:
        return str(e), vm.vcpus, vm.owned_frames(), vm.kernel
import struct
fills_low_ram = struct.pack('<8I', 0x1BADB002, 0x10000, (-(0x1BADB002 + 0x10000)) & 0xFFFFFFFF,
                            0x2000, 0x2000, 0x2020, 0x9FC00, 0x2000)
free0 = hv.frames.free_count()
""")
    got = repl.eval("[try_boot(guests.MBMODS, modules=[(bytes(1 << 20), 'big')], mem=1 << 20), "
                    "try_boot(fills_low_ram, mem=1 << 20), "
                    "try_boot(guests.MBMODS, modules=[(b'x', 'ok'), (42, 'n')]), "
                    "try_boot(guests.MBMODS, cmdline='a\\0b'), "
                    "(lambda vm: (bad_load(vm, [(b'ok', 'a'), ('text', 'b')]), vm.close())[0])("
                    "hv.VM(8 << 20)), "
                    "try_boot(guests.MBMODS, modules=[(b'x', 'nul\\0')]), "
                    "hv.frames.free_count() - free0]", timeout=300)
    assert got[0] == ("module 0 (1048576 bytes) does not fit in guest RAM (0x100000 bytes) beside "
                      "the kernel, the multiboot information and the modules before it")
    assert got[1].startswith("no room for the multiboot information (")
    assert got[2] == "module 1 is a int, not bytes-like"
    assert got[3] == "the command line contains a NUL byte"
    assert got[4] == ("module 1 is a str, not bytes-like", [], 0, None)   # the VM untouched
    assert got[5] == "module 0's command line contains a NUL byte"
    assert got[6] == 0
