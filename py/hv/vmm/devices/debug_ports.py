# The two ports a PC guest under an emulator writes that are no device: QEMU's
# isa-debug-exit (0xF4: a write ends the VM with its value, as QEMU's
# -device isa-debug-exit does) and the POST port 0x80 (BIOS POST codes and
# I/O delays). Pure Python, wired by hv.vmm.platform.
from micropython import const

DEBUG_EXIT = const(0xF4)        # QEMU's isa-debug-exit: a write ends the VM
POST = const(0x80)              # BIOS POST codes: writes accepted, ignored


class DebugExit:
    """A guest write ends the run; the value is the VM's result."""

    def __init__(self):
        self.ports = (DEBUG_EXIT,)
        self.value = None

    def io_write(self, port, width, value):
        self.value = value

    def io_read(self, port, width):
        return (1 << (8 * width)) - 1


class Post:
    """Port 0x80: POST codes and I/O delays; nothing to see."""

    def __init__(self):
        self.ports = (POST,)

    def io_write(self, port, width, value):
        pass

    def io_read(self, port, width):
        return (1 << (8 * width)) - 1
