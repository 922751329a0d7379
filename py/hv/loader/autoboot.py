# Kernel option run=hv.loader.autoboot: boot every kernel GRUB loaded as a
# multiboot module (`module` lines in grub.cfg, `make run GUEST=...`) in turn
# with hv.boot, each with its module line (less the name, for Linux) as its
# command line, then go on to the REPL. A module right after a Linux bzImage
# that is no kernel itself is that kernel's initrd, as GRUB's own `linux` +
# `initrd` pair would be. Runs on the bare-metal port, once, after the banner.
import hw
import hv
import multiboot


def _bytes(m):
    return hw.mem(m.start, m.end - m.start)


def main():
    modules = multiboot.info().modules
    if not modules:
        print("autoboot: no boot modules (add `module` lines to grub.cfg)")
    from hv.loader.boot import kind, linux_cmdline, pairs
    for m, k, initrd in pairs(modules, [kind(_bytes(m)) for m in modules]):
        print("autoboot: %s%s" % (m.cmdline, " + initrd %s" % initrd.name if initrd else ""))
        try:
            r = hv.boot(_bytes(m), cmdline=linux_cmdline(m.cmdline) if k == "linux" else m.cmdline,
                        initrd=_bytes(initrd) if initrd is not None else None)
        except hv.ImageError as e:
            print("autoboot: %s: %s" % (m.name, e))
            continue
        except KeyboardInterrupt:
            print("autoboot: stopped; the REPL follows")
            return
        print("autoboot: %s: %r, result %r" % (m.name, r, r.result))


main()
