# The default demo (`make run`, kernel option run=hv.loader.demo): the demo guest
# (demos/demo.asm: COM1, CPUID, a hypercall, PIT timer interrupts through
# the PIC, port 0xF4) booted with hv.boot, every exit printed as it happens.
# Runs on the bare-metal port; imported once, after the banner.
import hv


def main():
    if hv.vendor() is None:
        print("demo: needs Intel VT-x or AMD-V (see the lines above)")
        return
    print("demo: hv.boot('demo', trace=True)")
    r = hv.boot("demo", trace=True)
    print("demo: the guest's result is %r (0: all its checks passed)" % r.result)
    print("demo: hv.help() lists the API; docs/tutorial.md walks through it")


main()
