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

    def io(self, vcpu, port, width, value):
        """The guest's IN (value None; returns what it reads) or OUT."""
        dev = self.devices[port]
        if value is None:
            return dev.io_read(port, width)
        if dev is self.pic:
            self.ticks.pic_write(lambda: dev.io_write(port, width, value))
        else:
            dev.io_write(port, width, value)
        if dev is self.pic or dev is self.pit:
            self.ticks.poll(vcpu)       # an EOI, unmask or new count changes what is due
        return None
