# The default demo (`make run`, kernel option run=hv.demo): the 64-bit test
# guest under the VMM, its COM1 output echoed, then the exits it caused.
# Runs on the bare-metal port; imported once, after the banner.
import hv
import guests


def main():
    if hv.vendor() != "amd":
        print("demo: needs AMD SVM (this CPU: %s)" % hv.vendor())
        return
    print("demo: hv.run_guest(guests.LONG64, 'long', ports={0x600: 0xA5A5A5A5}, "
          "msrs={0x4D500001: 0}, trace=True)")
    r = hv.run_guest(guests.LONG64, "long", ports={0x600: 0xA5A5A5A5}, msrs={0x4D500001: 0},
                     trace=True)
    print("demo: %r; exits other than COM1:" % r)
    for t in r.trace:
        print("  ", t[0], " ".join(hex(x) if isinstance(x, int) else repr(x) for x in t[1:]))


main()
