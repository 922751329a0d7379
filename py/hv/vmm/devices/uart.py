# The guest's COM1, a 16550 UART at 0x3F8-0x3FF reduced to what a small
# kernel uses (NS16550A datasheet): THR bytes are kept and forwarded to the
# real console with a prefix or colour, LSR says "transmitter idle" and, when
# the host console has input, "data ready"; RBR hands that input over.
# Pure Python, arch-neutral; `getc` and `write` come from the VMM.
from micropython import const

BASE = const(0x3F8)
_THR = const(0)                 # DLAB = 0: transmit / receive buffer
_LSR = const(5)
_LCR = const(3)
_LCR_DLAB = const(0x80)
_LSR_DR = const(0x01)           # data ready
_LSR_IDLE = const(0x60)         # THR empty, transmitter empty
PREFIX = "guest| "              # default decoration of forwarded lines


class Uart:
    """getc() -> next input byte or None (the host console, in the
    foreground); write(bytes) -> the host console, or None for no echo.
    Forwarded lines start with `prefix` and are wrapped in the ANSI colour
    `colour` (e.g. 36 for cyan); set prefix = '' and colour = None for the
    guest's bytes unchanged. `output` keeps them undecorated."""

    def __init__(self, getc=None, write=None, prefix=PREFIX, colour=None):
        self.ports = tuple(range(BASE, BASE + 8))
        self.regs = bytearray(8)        # what the guest wrote to the other registers
        self.output = bytearray()
        self.getc, self.write = getc, write
        self.prefix, self.colour = prefix, colour
        self._rx = -1                   # a byte taken from getc, not yet read
        self._line_start = True

    def io_write(self, port, width, value):
        reg, value = port - BASE, value & 0xFF
        if reg == _THR and not self.regs[_LCR] & _LCR_DLAB:
            self.output.append(value)
            if self.write is not None:
                self._forward(value)
        else:
            self.regs[reg] = value

    def _forward(self, byte):
        out = bytearray()
        if self._line_start:
            if self.colour is not None:
                out.extend(("\x1b[%dm" % self.colour).encode())
            out.extend(self.prefix.encode())
        out.append(byte)
        self._line_start = byte == 10
        if self._line_start and self.colour is not None:
            out.extend(b"\x1b[0m")
        self.write(out)

    def end_line(self):
        """After a run: end the line (and colour) the guest left open, so
        what the REPL prints next starts on a line of its own."""
        if not self._line_start and self.write is not None:
            self.write(b"\r\n" if self.colour is None else b"\x1b[0m\r\n")
            self._line_start = True

    def _poll(self):
        if self._rx < 0 and self.getc is not None:
            c = self.getc()
            if c is not None:
                self._rx = c
        return self._rx >= 0

    def io_read(self, port, width):
        reg = port - BASE
        if reg == _LSR:
            return _LSR_IDLE | (_LSR_DR if self._poll() else 0)
        if reg == _THR and not self.regs[_LCR] & _LCR_DLAB:
            if not self._poll():
                return 0
            c, self._rx = self._rx, -1
            return c
        return self.regs[reg]
