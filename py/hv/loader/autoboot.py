# Kernel option run=hv.loader.autoboot: boot every multiboot module GRUB loaded
# (`module` lines in grub.cfg, `make run GUEST=...`) in turn with hv.boot,
# each with its module line as its command line, then go on to the REPL.
# Runs on the bare-metal port, once, after the banner.
import hw
import hv
import multiboot


def main():
    modules = multiboot.info().modules
    if not modules:
        print("autoboot: no boot modules (add `module` lines to grub.cfg)")
    for m in modules:
        print("autoboot: %s" % m.cmdline)
        try:
            r = hv.boot(hw.mem(m.start, m.end - m.start), cmdline=m.cmdline)
        except hv.ImageError as e:
            print("autoboot: %s: %s" % (m.name, e))
            continue
        print("autoboot: %s: %r, result %r" % (m.name, r, r.result))


main()
