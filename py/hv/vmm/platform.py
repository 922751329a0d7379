# The PC a guest sees: its I/O ports routed to the device models under
# hv.vmm.devices (8259A pair with ELCR, 8254 PIT and port 0x61, MC146818A
# RTC/CMOS, COM1 16550A, 8042 and port 0x92, PCI mechanism #1 with the 440FX,
# fw_cfg, ACPI PM), the isa-debug-exit port 0xF4 and POST port 0x80; their
# ISA IRQ lines wired through hv.vmm.irq, their timers run by hv.vmm.ticks.
# Arch-neutral, pure Python.
from micropython import const
from hv.vmm import acpi
from hv.vmm.devices.acpi_pm import AcpiPm
from hv.vmm.devices.cmos_map import fill_pc
from hv.vmm.devices.debug_ports import DebugExit, Post
from hv.vmm.devices.fw_cfg import E820_ACPI, FwCfg
from hv.vmm.devices.i8042 import I8042, Port92
from hv.vmm.devices.pci import PciHost
from hv.vmm.devices.pic import Pic
from hv.vmm.devices.port61 import Port61
from hv.vmm.devices.rtc import Rtc
from hv.vmm.devices.uart import Uart
from hv.vmm.irq import IsaIrqs
from hv.vmm.ticks import Ticks

COM1_IRQ = const(4)


class _OnFirstUse:
    """A device built at the guest's first access to its ports (make()):
    the RTC reads the host's clock then, fw_cfg lays out its items then. A
    VM that never looks costs neither; the guest cannot tell the difference."""

    def __init__(self, ports, make):
        self.ports, self._make, self.dev = ports, make, None

    def get(self):
        d = self.dev
        if d is None:
            d = self.dev = self._make()
        return d

    def io_read(self, port, width):
        return self.get().io_read(port, width)

    def io_write(self, port, width, value):
        return self.get().io_write(port, width, value)

    def next_deadline(self):
        d = self.dev
        return None if d is None else d.next_deadline()

    def poll(self, now=None):
        if self.dev is not None:
            self.dev.poll(now)


def _wall_clock():
    import time                         # CPython (host tests); the target passes hv.host.rtc's
    return time.time()


def _maxphyaddr(cpuid):
    # CPUID 0x80000008 EAX[7:0] (SDM 2A, APM3), where the CPU reports it.
    if cpuid.answer(0x80000000, 0)[0] >= 0x80000008:
        return cpuid.answer(0x80000008, 0)[0] & 0xFF or 36
    return 36


class Platform:
    """tsc() -> host cycles at hz() per second; timer: the host timer
    (hv.host.timer) that makes a spinning guest exit when its next deadline
    is due; host_time() -> Unix seconds now (the RTC's start); ram_size:
    the guest's RAM (fw_cfg, CMOS). `devices` maps each port to its device,
    `names` names them; `irqs` (hv.vmm.irq) are the ISA lines, `ticks`
    (hv.vmm.ticks) the timers and their delivery to the vCPU."""

    def __init__(self, tsc, hz, timer=None, host_time=None, ram_size=0):
        self._tsc, self._hz = tsc, hz
        self.apic = None                # hv.vmm.apic.Apics once add_apic() gave the guest one
        self.msr_handlers = {}          # msr -> (read, write): architectural MSRs (add_msrs)
        self.arch_msrs = None           # hv.vmm.msrs.ArchMsrs behind them
        self.pic = Pic()
        self.irqs = irqs = IsaIrqs(self.pic)
        self.ticks = ticks = Ticks(irqs, tsc, hz, timer)
        self.pit = ticks.pit
        self.uart = Uart(irq=irqs.set, line=COM1_IRQ)
        self.debug_exit = DebugExit()
        self.i8042 = I8042(irq=irqs.set)
        self.pci = PciHost()
        self.acpi_pm = AcpiPm(ticks.clock, irq=irqs.set)
        self.ram_size = ram_size
        self._host_time = host_time or _wall_clock
        self._rtc = _OnFirstUse((0x70, 0x71), self._make_rtc)
        self._fw_cfg = _OnFirstUse((0x510, 0x511), self._make_fw_cfg)
        self.devices = {}
        self.names = {}
        self._vcpu = None
        self._timed = []                # devices whose accesses may start or stop a timer
        for name, dev in (("PIC", self.pic), ("PIT", self.pit), ("port 0x61", Port61(self.pit)),
                          ("COM1", self.uart), ("debug-exit", self.debug_exit), ("POST", Post()),
                          ("8042", self.i8042), ("port 0x92", Port92(self.i8042)),
                          ("PCI", self.pci), ("fw_cfg", self._fw_cfg)):
            self.add(name, dev)
        self.add("RTC", self._rtc, timed=True)
        self.add("ACPI PM", self.acpi_pm, timed=True)
        ticks.inputs.append(self.uart)
        irqs.changed = self._irq_changed
        self.handlers = None

    @property
    def rtc(self):
        """The MC146818A (hv.vmm.devices.rtc), built on first use."""
        return self._rtc.get()

    @property
    def fw_cfg(self):
        return self._fw_cfg.get()

    def _make_rtc(self):
        r = Rtc(self.ticks.clock, self._host_time, irq=self.irqs.set)
        fill_pc(r.nvram, min(self.ram_size, acpi.IOAPIC_BASE))
        return r

    def e820(self):
        """The guest's memory map as fw_cfg's etc/e820 gives it: RAM below
        640 KiB and from 1 MiB, the ACPI tables (acpi_tables(...))."""
        out = [(0, 0x9FC00, 1)]
        if self.ram_size > 0x100000:
            out.append((0x100000, self.ram_size - 0x100000, 1))
        out.append((acpi.BASE, len(acpi_tables(self.apic is not None)), E820_ACPI))
        return out

    def _make_fw_cfg(self):
        return FwCfg(self.ram_size, e820=self.e820())

    def add(self, name, dev, timed=False):
        """Put device `dev` at its `ports` under `name`; timed: it is a time
        source (next_deadline(), poll(now)) that hv.vmm.ticks runs."""
        for p in dev.ports:
            self.devices[p] = dev
            self.names[p] = name
        if timed:
            self.ticks.sources.append(dev)
            self._timed.append(dev)
        self.handlers = None

    def _handlers(self):
        # port -> (read, write) as the vCPU calls them (hv.vcpu.api.register_io).
        special = {self.pic: (None, self._pic_write), self.pit: (None, self._pit_write),
                   self.debug_exit: (None, self._debug_write)}
        for dev in self._timed:
            special[dev] = (self._timed_read(dev), self._timed_write(dev))
        out = {}
        for port, dev in self.devices.items():
            read, write = special.get(dev, (None, None))
            out[port] = (read or dev.io_read, write or dev.io_write)
        return out

    def add_msrs(self, vendor, cpuid, io=None):
        """The architectural MSRs a guest of `vendor` finds (hv.vmm.msrs),
        TSC_AUX loaded into the CPU for RDTSCP where it has one."""
        from hv.vmm.msrs import ArchMsrs
        aux = None
        if io is not None and cpuid.answer(0x80000001, 0)[3] & 1 << 27:   # RDTSCP
            from hv.host.cpu import rdmsr_or_none
            if rdmsr_or_none(io)(0xC0000103) is not None:
                aux = lambda v: io.wrmsr(0xC0000103, v)
        self.arch_msrs = ArchMsrs(vendor, self.ticks.guest_tsc, _maxphyaddr(cpuid), aux)
        self.msr_handlers = self.arch_msrs.handlers()

    def add_apic(self, cpuid):
        """A local APIC and the I/O APIC (hv.vmm.apic): an ISA line sink,
        the controller the vCPU takes vectors from, a time source; CPUID
        shows the APIC."""
        if self.apic is None:
            from hv.vmm.apic import Apics
            a = self.apic = Apics(self.pic, self.ticks.guest_tsc, self._hz, _maxphyaddr(cpuid))
            self.irqs.route.append(a)
            self.irqs.cpu = a
            self.ticks.sources.append(a)
            a.changed = self._apic_changed
            cpuid.set_apic(True)
        return self.apic

    def _apic_changed(self):
        # An APIC register the guest wrote may start or stop the LAPIC timer
        # or make a vector deliverable.
        vcpu = self._vcpu
        if vcpu is not None:
            self.ticks.follow(vcpu)
            self.ticks.poll(vcpu)

    def attach(self, vcpu):
        """Register every device port with the vCPU, so run() answers them
        itself (tier one); writes to timers also drive the ticks."""
        self._vcpu = vcpu
        if self.handlers is None:
            self.handlers = self._handlers()
        for port, (read, write) in self.handlers.items():
            vcpu.register_io(port, 1, read, write)
        for msr, (read, write) in self.msr_handlers.items():
            vcpu.register_msr(msr, read, write)
        if self.arch_msrs is not None and self.arch_msrs._load_aux is not None:
            self.arch_msrs._load_aux(self.arch_msrs.values[0xC0000103])   # this guest's, for RDTSCP
        if self.apic is not None:
            self.apic.attach(vcpu)
        self.uart.use_fast_io(getattr(vcpu, "fast_io", None))   # the polled console's hot ports
        self.ticks.follow(vcpu)

    def detach(self):
        """The run is over: no vCPU to deliver to."""
        self.uart.use_fast_io(None)
        self._vcpu = None

    def close(self):
        """The VM is closed: drop the wiring (ports, handlers, IRQ routes,
        timers). MicroPython's GC is conservative: a stale word that reads as
        a pointer to one device then keeps that device, not every device of
        the platform through its tables (7-10 KiB that test_resources saw
        stay after the last VM). `names` is replaced, not cleared: a
        RunResult's report still reads it."""
        self._vcpu = None
        self.devices.clear()
        if self.handlers is not None:
            self.handlers.clear()
        self.names = {}
        self.ticks.sources.clear()
        self.ticks.inputs.clear()
        self._timed.clear()
        self._rtc = self._fw_cfg = None
        irqs = self.irqs
        irqs.route.clear()
        irqs.cpu = irqs.changed = None
        self.msr_handlers = {}
        self.arch_msrs = None
        a, self.apic = self.apic, None
        if a is not None:
            a.close()

    def _irq_changed(self):
        # A line moved (a device's register access, a timer's poll): offer
        # the vCPU the pending vector before it re-enters.
        vcpu = self._vcpu
        if vcpu is not None:
            self.ticks.deliver(vcpu)

    def _pic_write(self, port, width, value):
        self.ticks.pic_write(port, width, value, self._vcpu)

    def _pit_write(self, port, width, value):
        self.pit.io_write(port, width, value)
        self.ticks.follow(self._vcpu)
        self.ticks.poll(self._vcpu)     # a new count changes what is due

    def _timed_read(self, dev):
        def read(port, width):
            v = dev.io_read(port, width)
            self.ticks.follow(self._vcpu)   # e.g. reading RTC register C re-arms it
            return v
        return read

    def _timed_write(self, dev):
        def write(port, width, value):
            why = dev.io_write(port, width, value)
            self.ticks.follow(self._vcpu)
            self.ticks.poll(self._vcpu)
            return why
        return write

    def _debug_write(self, port, width, value):
        self.debug_exit.value = value
        return "DebugExit"              # the run ends: the value is the VM's result

    def io(self, vcpu, port, width, value):
        """The guest's IN (value None; returns what it reads) or OUT, as the
        handlers attach() registers answer it."""
        self._vcpu = vcpu
        if self.handlers is None:
            self.handlers = self._handlers()
        read, write = self.handlers[port]
        return read(port, width) if value is None else write(port, width, value)


_tables = [None, None]          # acpi.blob() for one CPU, without and with the APICs


def acpi_tables(apic):
    """The ACPI tables a VM gets at acpi.BASE, with the MADT if it has the
    APICs (built once each, then shared by every VM)."""
    i = 1 if apic else 0
    if _tables[i] is None:
        _tables[i] = acpi.blob(apic=apic)
    return _tables[i]
