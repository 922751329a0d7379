# The guest's x87/SSE state across exits (port/fpu.h): tests/guests/fpu.asm
# fills XMM0-15, MXCSR and ST0, exits 64 times to a port handler that does
# floating-point work in Python on the host, and checks them all. Before the
# swap, the host's SSE code overwrote the guest's XMM registers (Linux's
# user space crashed in memcpy/malloc). QEMU SVM, Bochs VMX and Bochs ryzen.
import pytest

from conftest import ELF, ISO, booted, image

TARGETS = {"qemu-svm": ("qemu", dict(kernel=ELF)),
           "bochs-vmx": ("bochs", dict(iso=ISO, model="corei7_skylake_x")),
           "bochs-ryzen": ("bochs", dict(iso=ISO, model="ryzen"))}

RUN = """
import hv, guests
acc = [0.1]
def busy(port, width):
    acc[0] = acc[0] * 1.0000001 + 1 / 3     # floats: XMM registers and MXCSR on the host
    return int(acc[0]) & 0xFF
vm = hv.VM(1 << 20)
c = vm.new_vcpu()
vm.write(guests.LOAD, guests.FPU)
c.set_entry(guests.LOAD)
c.setup('long')
c.register_io(0x600, 1, busy, None)
r = vm.run(c, echo=False)
vm.close()
print(repr((r.reason, r.output, r.exits >= 64, acc[0] > 21, 2 / 3)))
"""


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_guest_fpu_state_survives_host_float_work(name):
    emulator, opts = TARGETS[name]
    opts = {k: image(v) if k in ("kernel", "iso") else v for k, v in opts.items()}
    with booted(emulator, **opts) as repl:
        repl.timeout = 300
        got = repl.exec(RUN)
    reason, output, exited, host_ran, third = eval(got)
    assert (reason, output) == ("Halt", b"sse ok\nmxcsr ok\nx87 ok\n")
    assert exited and host_ran
    assert third == 2 / 3       # the host's rounding mode is its own again (the guest's rounds toward zero)
