# The PC a guest sees: its I/O ports routed to the emulated 8259A PIC pair,
# the 8254 PIT channel 0 and the COM1 UART (hv.vmm.devices), the isa-debug-exit
# port 0xF4 and the POST port 0x80, with timer ticks (hv.vmm.ticks) delivered
# through the PIC. Arch-neutral, pure Python.
from micropython import const
from hv.vmm.devices.pic import Pic
from hv.vmm.devices.uart import Uart
from hv.vmm.ticks import Ticks

DEBUG_EXIT = const(0xF4)        # QEMU's isa-debug-exit: a write ends the VM
POST = const(0x80)              # BIOS POST codes: writes accepted, ignored


class _DebugExit:
    """A guest write ends the run; the value is the VM's result."""

    def __init__(self):
        self.ports = (DEBUG_EXIT,)
        self.value = None

    def io_write(self, port, width, value):
        self.value = value

    def io_read(self, port, width):
        return (1 << (8 * width)) - 1


class _Post:
    """Port 0x80: POST codes and I/O delays; nothing to see."""

    def __init__(self):
        self.ports = (POST,)

    def io_write(self, port, width, value):
        pass

    def io_read(self, port, width):
        return (1 << (8 * width)) - 1


class Platform:
    """tsc() -> host cycles at hz() per second; timer: the host timer
    (hv.host.timer) that makes a spinning guest exit when its next tick is
    due. `devices` maps each port to its device, `names` names them;
    `ticks` (hv.vmm.ticks) turns PIT edges into PIC interrupts for the vCPU."""

    def __init__(self, tsc, hz, timer=None):
        self.pic = Pic()
        self.ticks = Ticks(self.pic, tsc, hz, timer)
        self.pit = self.ticks.pit
        self.uart = Uart()
        self.debug_exit = _DebugExit()
        self.devices = {}
        self.names = {}
        for name, dev in (("PIC", self.pic), ("PIT", self.pit), ("COM1", self.uart),
                          ("debug-exit", self.debug_exit), ("POST", _Post())):
            for p in dev.ports:
                self.devices[p] = dev
                self.names[p] = name
        self.handlers = self._handlers()
        self._vcpu = None

    def _handlers(self):
        # port -> (read, write) as the vCPU calls them (hv.vcpu.api.register_io).
        special = {self.pic: self._pic_write, self.pit: self._pit_write,
                   self.debug_exit: self._debug_write}
        return {port: (dev.io_read, special.get(dev, dev.io_write))
                for port, dev in self.devices.items()}

    def attach(self, vcpu):
        """Register every device port with the vCPU, so run() answers them
        itself (tier one); the PIC and PIT writes also drive the ticks."""
        self._vcpu = vcpu
        for port, (read, write) in self.handlers.items():
            vcpu.register_io(port, 1, read, write)
        self._clock_follows_pit()

    def _pic_write(self, port, width, value):
        self.ticks.pic_write(lambda: self.pic.io_write(port, width, value))
        self.ticks.poll(self._vcpu)     # an EOI or unmask changes what is due

    def _pit_write(self, port, width, value):
        self.pit.io_write(port, width, value)
        self._clock_follows_pit()
        self.ticks.poll(self._vcpu)     # a new count changes what is due

    def _clock_follows_pit(self):
        # The vCPU tells the ticks about each exit only while the PIT counts.
        self._vcpu.clock = self.ticks if self.pit.armed_at is not None else None

    def _debug_write(self, port, width, value):
        self.debug_exit.value = value
        return "DebugExit"              # the run ends: the value is the VM's result

    def io(self, vcpu, port, width, value):
        """The guest's IN (value None; returns what it reads) or OUT, as the
        handlers attach() registers answer it."""
        self._vcpu = vcpu
        read, write = self.handlers[port]
        return read(port, width) if value is None else write(port, width, value)
