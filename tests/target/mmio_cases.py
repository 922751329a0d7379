# MMIO and string I/O on a booted mpvisor, as test functions that
# test_mmio_qemu.py (AMD SVM, QEMU TCG: no NRIPS, no decode assists, no
# IOIO address-size bits) and test_mmio_bochs.py (Intel VMX, Bochs
# corei7_skylake_x; AMD SVM, Bochs ryzen: NRIPS, no decode assists) import
# with their own module-scoped `repl` and `target` fixtures. The guest
# (tests/guests/mmiodev.asm) does each MMIO instruction form against a
# scratch register file the test registers at 0xFED00000 (and 0xF00000),
# and REP INS/OUTS both ways against a loopback port; the device's access
# log must match the instructions exactly.
import os
import subprocess
import tempfile

SETUP = """
import hv, hw, guests

class Scratch:
    def __init__(self, base):
        self.base, self.mem, self.log = base, bytearray(0x1000), []
    def read(self, a, w):
        o = a - self.base
        self.log.append((o, w))
        return int.from_bytes(self.mem[o:o + w], 'little')
    def write(self, a, w, v):
        o = a - self.base
        self.mem[o:o + w] = v.to_bytes(w, 'little')
        self.log.append((o, w, v))

class Loop:
    def __init__(self):
        self.q, self.log = b'', []
    def read(self, p, w):
        v = int.from_bytes(self.q[:w], 'little')
        self.q = self.q[w:]
        self.log.append(('in', w, v))
        return v
    def write(self, p, w, v):
        self.q += v.to_bytes(w, 'little')
        self.log.append(('out', w, v))

def run_mmio(trace=False):
    free0 = hv.frames.free_count()
    vm = hv.VM(16 << 20)
    try:
        c = vm.load_flat(guests.MMIODEV, guests.LOAD, guests.LOAD, 'long')
        dev, low, loop = Scratch(0xFED00000), Scratch(0xF00000), Loop()
        c.register_mmio(0xFED00000, 0x1000, dev.read, dev.write)
        c.register_mmio(0xF00000, 0x1000, low.read, low.write)
        c.register_io(0x700, 1, loop.read, loop.write)
        vm.vmm.unhandled_io = 'absent'
        r = vm.run(c, echo=False, trace=trace, max_exits=100000)
        out = {'reason': r.reason, 'result': r.result, 'output': r.output.decode(),
               'dev': dev.log, 'low': low.log, 'loop': loop.log, 'exits': r.exits,
               'trace': [t for t in (r.trace or ()) if t[0].startswith('Mmio')],
               'mapped': vm.gpa_to_hpa(0xF00000), 'report': r.report}
    finally:
        vm.close()
    out['free_delta'] = hv.frames.free_count() - free0
    return out

def drive(code, *values):
    # The raw vCPU protocol: each MmioRead completed with the next value.
    vm = hv.VM(1 << 20)
    c = vm.load_flat(code, 0x10000, 0x10000, 'long')
    c.bind()
    got, values = [], list(values)
    try:
        while True:
            e = c.run()
            got.append(e.as_tuple())
            if e.reason == 'MmioRead':
                c.complete(values.pop(0))
            elif e.reason != 'MmioWrite':
                break
        return got, c.get_gpr(0), c.rip
    finally:
        c.unbind()
        vm.close()

def time_loop(code, mmio):
    # Exits per second of a guest loop: MMIO reads of a registered device
    # (mmio=True) or IN from a registered port; seconds per exit.
    vm = hv.VM(16 << 20)
    try:
        c = vm.load_flat(code, 0x10000, 0x10000, 'long')
        n = [0]
        def rd(a, w):
            n[0] += 1
            return 0
        if mmio:
            c.register_mmio(0xF00000, 0x1000, rd, None)
        else:
            c.register_io(0x700, 1, rd, None)
        t0 = hw.rdtsc()
        r = vm.run(c, echo=False, max_exits=10000000)
        dt = (hw.rdtsc() - t0) / hw.tsc_hz()
    finally:
        vm.close()
    return r.reason, r.result, n[0], dt
"""

# What the guest does to the device at 0xFED00000, in order: (offset, width)
# for a read, (offset, width, value) for a write (tests/guests/mmiodev.asm).
DEV_LOG = (
    [(0, 4, 0x11223344), (0, 4), (4, 1, 0xAB), (4, 1), (6, 2, 0x8001), (6, 2),
     (8, 8, 0x0123456789ABCDEF), (8, 8), (0x10, 4, 0x80000000), (0x10, 4),
     (0x28, 4, 0x55), (0x28, 4), (0x58, 2, 3), (0x58, 2), (0, 4), (0x60, 1, 0x5A), (0x60, 1),
     (0x30, 4, 0xFF), (0x30, 4), (0x30, 4, 0x1FF), (0x30, 4), (0x30, 4, 0x1F0),
     (0x30, 4), (0x30, 4, 0x1E0), (0x30, 4),
     (0x34, 2, 0xFFFF), (0x34, 2), (0x34, 2, 0), (0x34, 2),
     (0x38, 4, 5), (0x38, 4), (0x38, 4, 9), (0x38, 4),
     (0x3C, 1, 0x80), (0x3C, 1),
     (0x30, 4), (0x30, 4, 0x1E1), (0x30, 4),
     (0x30, 4), (0x30, 4, 0x101), (0x30, 4),
     (0x100, 4, 0x03020100), (0x104, 4, 0x07060504), (0x108, 4, 0x0B0A0908),
     (0x10C, 4, 0x0F0E0D0C), (0x10C, 4)]
    + [(0x10F - i, 1) for i in range(16)]
    + [(0x200, 2, 0xCAFE), (0x202, 2, 0xCAFE), (0x204, 2, 0xCAFE), (0x204, 2)])
LOW_LOG = [(0x10, 4, 0x77), (0x10, 4)]
LOOP_LOG = ([("out", 2, 0x0100), ("out", 2, 0x0302), ("out", 2, 0x0504), ("out", 2, 0x0706)]
            + [("in", 1, i) for i in range(8)]
            + [("out", 4, 0x03020100), ("out", 4, 0x07060504),
               ("in", 4, 0x03020100), ("in", 4, 0x07060504),
               ("out", 1, 0x42), ("in", 1, 0x42), ("out", 1, 3), ("in", 1, 3)])
CHECKS = ["mov32", "movzx8", "movsx16", "mov64", "movsxd", "sib", "rex base index", "moffs",
          "ah", "rip-relative", "or and xor cmp", "add flags", "xchg", "test", "lock or",
          "alu register forms", "rep movsd to device", "rep movsb from device, DF=1",
          "rep stosw, lodsw", "rep outsw, rep insb", "rep outsd, rep insd, DF=1", "insb a32",
          "outsb fs", "absent read"]
OUTPUT = "".join(c + " ok\n" for c in CHECKS) + "mmio: bye\n"


def assemble(source):
    with tempfile.TemporaryDirectory() as d:
        src, out = os.path.join(d, "g.asm"), os.path.join(d, "g.bin")
        with open(src, "w") as f:
            f.write("bits 64\norg 0x10000\n" + source)
        subprocess.run(["nasm", "-f", "bin", "-o", out, src], check=True)
        with open(out, "rb") as f:
            return f.read()


def test_every_mmio_form_and_string_io_both_ways(repl, target):
    got = repl.eval("run_mmio()", timeout=target["timeout"])
    assert got["output"] == OUTPUT, (got["output"], got["report"])
    assert (got["reason"], got["result"]) == ("DebugExit", 0)
    assert got["dev"] == DEV_LOG
    assert got["low"] == LOW_LOG and got["mapped"] == -1     # never backed by RAM
    assert got["loop"] == LOOP_LOG
    assert got["free_delta"] == 0


def test_the_same_through_vm_run_with_a_trace(repl, target):
    # Every exit goes out: the registered devices answer through vm.run.
    got = repl.eval("run_mmio(trace=True)", timeout=target["timeout"])
    assert got["output"] == OUTPUT, (got["output"], got["report"])
    assert got["dev"] == DEV_LOG and got["low"] == LOW_LOG and got["loop"] == LOOP_LOG
    mmio = got["trace"]
    assert mmio[0] == ("MmioWrite", 0xFED00000, 4, 0x11223344)
    assert mmio[1] == ("MmioRead", 0xFED00000, 4, 0x11223344)
    assert ("MmioRead", 0xC0000000, 4, 0xFFFFFFFF) in mmio      # 'absent'
    assert ("MmioWrite", 0xC0000004, 4, 1) in mmio
    assert len(mmio) == len(DEV_LOG) + len(LOW_LOG) + 2


def test_unregistered_mmio_exits_and_complete(repl, target):
    code = assemble("""
        mov eax, [0x200000]
        mov [0x200008], eax
        xchg [0x200010], eax
        hlt""")
    got = repl.eval(f"drive({code!r}, 0x5A5A5A5A, 7)", timeout=target["timeout"])
    assert got == ([("MmioRead", 0x200000, 4), ("MmioWrite", 0x200008, 4, 0x5A5A5A5A),
                    ("MmioRead", 0x200010, 4), ("MmioWrite", 0x200010, 4, 0x5A5A5A5A),
                    ("Halt",)], 7, 0x10000 + len(code))


def test_cost_of_one_mmio_read_exit(repl, target):
    # Printed for the record (pytest -s); checked: every read reached the device.
    n = target["loops"]
    mmio = assemble(f"""
        mov ebx, 0xF00000
        mov ecx, {n}
    l:  mov eax, [rbx]
        dec ecx
        jnz l
        mov al, 0
        out 0xF4, al""")
    port = assemble(f"""
        mov edx, 0x700
        mov ecx, {n}
    l:  in al, dx
        dec ecx
        jnz l
        mov al, 0
        out 0xF4, al""")
    m = repl.eval(f"time_loop({mmio!r}, True)", timeout=target["timeout"])
    p = repl.eval(f"time_loop({port!r}, False)", timeout=target["timeout"])
    assert m[:3] == ("DebugExit", 0, n) and p[:3] == ("DebugExit", 0, n)
    print(f"\n{target['name']}: MMIO read exit {m[3] / n * 1e6:.1f} us, "
          f"IN from a registered port {p[3] / n * 1e6:.1f} us ({n} each)")
