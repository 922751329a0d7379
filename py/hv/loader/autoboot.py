# Kernel option run=hv.loader.autoboot: boot every kernel GRUB loaded as a
# multiboot module (`module` lines in grub.cfg, `make run GUEST=...`) in turn
# with hv.boot, each with its module line (less the name, for Linux) as its
# command line, then go on to the REPL. A module right after a Linux bzImage
# that is no kernel itself is that kernel's initrd, as GRUB's own `linux` +
# `initrd` pair would be; the data modules after a multiboot kernel are its
# boot modules (`multiboot` + `module`), each with its whole module line.
# Each boot's start and end are printed in seconds since the machine's reset.
# Runs on the bare-metal port, once, after the banner.
import hw
import hv
import multiboot


def _bytes(m):
    return hw.mem(m.start, m.end - m.start)


def _since_reset():
    # The TSC counts from the machine's reset (SDM Vol. 3B, "Time-Stamp
    # Counter": zero after RESET; a VMM below mpvisor may offset it): the
    # seconds since then, BIOS and boot loader included.
    return hw.rdtsc() / hw.tsc_hz()


def main():
    modules = multiboot.info().modules
    if not modules:
        print("autoboot: no boot modules (add `module` lines to grub.cfg)")
    from hv.loader.boot import kind, linux_cmdline, pairs
    for m, k, data in pairs(modules, [kind(_bytes(m)) for m in modules]):
        linux = k == "linux"
        print("autoboot: %s%s" % (m.cmdline, "".join(" + %s %s" % ("initrd" if linux else "module", d.name)
                                                      for d in data)))
        print("autoboot: %s starts %.1f s after the machine's reset" % (m.name, _since_reset()))
        try:
            if linux:
                r = hv.boot(_bytes(m), cmdline=linux_cmdline(m.cmdline),
                            initrd=_bytes(data[0]) if data else None)
            else:
                r = hv.boot(_bytes(m), cmdline=m.cmdline, modules=[(_bytes(d), d.cmdline) for d in data])
        except hv.ImageError as e:
            print("autoboot: %s: %s" % (m.name, e))
            continue
        except KeyboardInterrupt:
            print("autoboot: stopped; the REPL follows")
            return
        print("autoboot: %s: %r, result %r" % (m.name, r, r.result))
        print("autoboot: %s ended %.1f s after the machine's reset" % (m.name, _since_reset()))


main()
