# The CPU-bound benchmark guest (demos/sieve.asm, bench/sieve.py) boots
# and finds the right number of primes both inside mpvisor (hv.boot, SVM
# under QEMU TCG) and directly under `qemu-system-x86_64 -kernel`, and no
# exit reaches the VMM while it computes. No timing is checked.
import os
import re

from conftest import ELF, ROOT, booted, image
from launch import Machine

SIEVE = os.path.join(ROOT, "build", "demos", "sieve.bin")
RESULT = re.compile(r"primes: 148933\r\ntsc cycles: 0x[0-9a-f]{16}\r\n")


def test_sieve_in_mpvisor():
    with booted("qemu", kernel=image(ELF)) as repl:
        repl.exec("import hv, demos")
        result, output, frames = repl.eval("""(lambda: (
            f0 := hv.frames.free_count(), r := hv.boot('sieve', echo=False),
            (r.result, r.output.decode(), hv.frames.free_count() - f0))[-1])()""", timeout=300)
        assert result == 0 and frames == 0
        assert RESULT.search(output) and output.endswith("PASS\r\n"), output
        trace = repl.eval("""(lambda vm: (vm.load_multiboot(demos.SIEVE, 'sieve'),
            vm.run(trace=True, echo=False).trace, vm.close())[1])(hv.VM(32 << 20))""", timeout=300)
        posts = [i for i, t in enumerate(trace) if t[:2] == ("IoWrite", 0x80)]
        assert len(posts) == 2 and posts[1] == posts[0] + 1, trace   # nothing in between
        assert trace[-1] == ("IoWrite", 0xF4, 1, 0)


def test_sieve_under_plain_qemu():
    with Machine("qemu", kernel=image(SIEVE)) as m:
        m.read_until(b"PASS", timeout=300)
        assert m.wait(30) == 1              # isa-debug-exit: (0 << 1) | 1
        assert RESULT.search(m.output.decode())
