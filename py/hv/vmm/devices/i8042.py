# The PC's 8042 keyboard controller at 0x60/0x64 (IBM PS/2 Hardware Technical
# Reference, "Keyboard/Auxiliary Device Controller": status register,
# controller commands, command byte, output port with A20 and reset) and
# an AT keyboard on its port that answers the host's commands (IBM "Keyboard
# and Auxiliary Device Commands"). No auxiliary (mouse) port: AT-class.
# Pure Python; IRQ 1 through irq(line, level); a CPU reset ends the VM.
from micropython import const

DATA = const(0x60)
STATUS = const(0x64)
# Status register bits.
ST_OBF = const(0x01)
ST_IBF = const(0x02)
ST_SYS = const(0x04)            # system flag: POST passed (from the command byte)
ST_CMD = const(0x08)            # last write went to 0x64
ST_UNLOCKED = const(0x10)       # keyboard not inhibited
# Command byte bits.
CB_KBD_INT = const(0x01)
CB_SYS = const(0x04)
CB_KBD_OFF = const(0x10)
CB_XLATE = const(0x40)
# Output port bits.
OUT_RESET = const(0x01)         # low: the CPU is held in reset
OUT_A20 = const(0x02)
_OUT_DEFAULT = const(0xCF)      # reset high, A20 on, the unused lines high (as QEMU's)
_IRQ = const(1)
_KBD_ACK = const(0xFA)
_KBD_RESEND = const(0xFE)
_KBD_BAT_OK = const(0xAA)
_KBD_ID = (0xAB, 0x83)          # an MF2 keyboard
_KBD_TAKES_ARG = (0xED, 0xF0, 0xF3)    # set LEDs, scan code set, typematic rate


class I8042:
    """`a20` follows the output port (recorded; guest RAM does not wrap);
    io_write returns 'Reset' when the guest pulses or writes the reset line."""

    def __init__(self, irq=None):
        self.irq = irq
        self.ports = (DATA, STATUS)
        self.command_byte = CB_KBD_INT | CB_SYS | CB_XLATE    # what a BIOS leaves
        self.outport = _OUT_DEFAULT
        self.status = ST_SYS | ST_UNLOCKED
        self.out = []                   # bytes waiting for the output buffer
        self.last = 0                   # the output buffer: read again when empty
        self.scan_set = 2
        self._pending = None            # a controller command waiting for its data byte
        self._kbd_arg = None            # a keyboard command waiting for its argument
        self._line = False

    @property
    def a20(self):
        return bool(self.outport & OUT_A20)

    def io_read(self, port, width):
        if port == STATUS:
            return self.status | (ST_OBF if self.out else 0)
        if self.out:
            self.last = self.out.pop(0)
            self._update()
        return self.last

    def io_write(self, port, width, value):
        value &= 0xFF
        reason = None
        if port == STATUS:
            self.status |= ST_CMD
            reason = self._command(value)
        else:
            self.status &= ~ST_CMD
            pending, self._pending = self._pending, None
            if pending is None:
                self._keyboard(value)
            elif pending == 0x60:
                self.command_byte = value
                self.status = (self.status & ~ST_SYS) | (value & CB_SYS)
            elif pending == 0xD1:
                reason = self._set_outport(value)
            elif pending == 0xD2:
                self.out.append(value)              # as if the keyboard had sent it
        self._update()
        return reason

    def _command(self, c):
        self._pending = None
        if c == 0x20:
            self.out.append(self.command_byte)
        elif c in (0x60, 0xD1, 0xD2):
            self._pending = c
        elif c == 0xAA:                             # self test: passed
            self.status |= ST_SYS
            self.out.append(0x55)
        elif c == 0xAB:                             # keyboard interface test: no error
            self.out.append(0x00)
        elif c == 0xAD:
            self.command_byte |= CB_KBD_OFF
        elif c == 0xAE:
            self.command_byte &= ~CB_KBD_OFF
        elif c == 0xC0:                             # input port: keyboard not inhibited
            self.out.append(0x80)
        elif c == 0xD0:
            self.out.append(self.outport)
        elif c == 0xDD:
            return self._set_outport(self.outport & ~OUT_A20)
        elif c == 0xDF:
            return self._set_outport(self.outport | OUT_A20)
        elif c == 0xE0:                             # test inputs
            self.out.append(0x00)
        elif c >= 0xF0 and not c & OUT_RESET:       # pulse output bits whose mask bit is 0: 0xFE resets
            return "Reset"
        return None                                 # the aux commands and the rest: AT class, no answer

    def _set_outport(self, value):
        self.outport = value
        return None if value & OUT_RESET else "Reset"

    def _keyboard(self, b):
        arg, self._kbd_arg = self._kbd_arg, None
        if arg is not None:
            self.out.append(_KBD_ACK)
            if arg == 0xF0:
                if b == 0:                          # report the set (translated to set 1's code if XLATE)
                    self.out.append({1: 0x43, 2: 0x41, 3: 0x3F}[self.scan_set]
                                    if self.command_byte & CB_XLATE else self.scan_set)
                elif b in (1, 2, 3):
                    self.scan_set = b
            return
        if b == 0xFF:
            self.out.extend((_KBD_ACK, _KBD_BAT_OK))
        elif b == 0xF2:
            self.out.append(_KBD_ACK)
            self.out.extend(_KBD_ID)
        elif b == 0xEE:
            self.out.append(0xEE)                   # echo
        elif b in _KBD_TAKES_ARG:
            self.out.append(_KBD_ACK)
            self._kbd_arg = b
        elif b >= 0xF4:                             # enable, disable, defaults, set-all
            self.out.append(_KBD_ACK)
        else:
            self.out.append(_KBD_RESEND)

    def _update(self):
        level = bool(self.out) and bool(self.command_byte & CB_KBD_INT)
        if level != self._line:
            self._line = level
            if self.irq is not None:
                self.irq(_IRQ, level)


class Port92:
    """Port 0x92, system control port A ("fast A20" and fast reset; IBM
    PS/2 Technical Reference, PIIX4 "PORT92"): bit 1 A20, bit 0 resets
    the CPU when written as 1."""

    def __init__(self, i8042):
        self.ports = (0x92,)
        self.i8042 = i8042

    def io_read(self, port, width):
        return 0x02 if self.i8042.a20 else 0x00

    def io_write(self, port, width, value):
        k = self.i8042
        k.outport = (k.outport & ~OUT_A20) | (value & OUT_A20)
        return "Reset" if value & 0x01 else None
