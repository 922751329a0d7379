# hv.help(): the hypervisor's API on one screen, for people at the REPL
# (MicroPython keeps no docstrings, so help(obj) lists names only).
# Runs on the bare-metal port; docs/tutorial.md walks through it.

_TOPICS = {
    "boot": """\
hv.boot(image, cmdline=None, mem=32<<20, modules=None, trace=False,
        echo=True, prefix=None)
  image: bytes of a multiboot kernel, or a name from hv.images()
  (GRUB `module` lines and the demos built in: 'demo', 'mbinfo32', ...);
  modules: its boot modules, [(bytes or a name, cmdline), ...].
  Runs it to the end; r.result is what it wrote to port 0xF4.
  Ctrl-C stops it; the VM stays in hv.last_vm.""",
    "vm": """\
vm = hv.VM(16 << 20)              guest RAM 0..16 MiB
c = vm.load_multiboot(img, 'args', modules=[(b, 'm')]) or vm.load_flat(code, gpa, entry, mode)
r = vm.run()                      the small VMM (devices, COM1) to the end
vm.trace = True                   print every exit as it happens
vm.read(gpa, n), vm.write(gpa, b) guest memory
vm.vmm.ports[port] = value        answer IN on a port yourself
vm.vmm.hypercalls[nr] = fn        fn(vcpu, args) -> RAX
vm.vmm.enable_apic()              a local APIC and the I/O APIC (hv.boot(apic=True))
vm.vmm.exit_budget, .time_budget  when a run that never ends stops
r.reason, r.result, r.report      how it ended and why, in words
vm.vmm.uart.prefix = ''           guest output without 'guest| '
vm.close()                        frees every frame""",
    "vcpu": """\
c.bind(); e = c.run()             one exit: e.reason, e.port, e.data, ...
c.complete(value)                 answer the IoRead/SysRegRead/MmioRead e was
c.register_mmio(gpa, size, rd, wr)  a device: rd(addr, width), wr(addr, width, v)
c.register_io(port, n, rd, wr)    ports answered inside c.run()
c.regs(), c.rip, c.get_gpr(n), c.set_gpr(n, v)   (hv.x86.regs: RAX=0 ...)
c.set_io_intercept(port, 1, False)  hand a port to the guest (True: exit)
c.set_msr_intercept(msr, True, True)
c.inject_interrupt(vector)        delivered when the guest has IF=1
c.unbind()                        before vm.run() or vm.close()""",
}


def help(topic=None):
    """hv.help() for everything, or hv.help('boot' | 'vm' | 'vcpu')."""
    if topic is None:
        for name in ("boot", "vm", "vcpu"):
            print(_TOPICS[name])
        print("Exits: Hypercall IoRead IoWrite MmioRead MmioWrite SysRegRead SysRegWrite\n"
              "  NestedPageFault ExternalInterrupt Halt SystemDown FailEntry.\n"
              "Run ends (r.reason): DebugExit Halt PowerOff Reset SystemDown FailEntry\n"
              "  NestedPageFault UnhandledPort UnknownHypercall ExitBudget TimeBudget\n"
              "  HandlerError UnhandledMmio Unsupported. docs/guests.md says what each means;\n"
              "  docs/tutorial.md more.")
    elif topic in _TOPICS:
        print(_TOPICS[topic])
    else:
        raise ValueError("hv.help topics: 'boot', 'vm', 'vcpu'")
