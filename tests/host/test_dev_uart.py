# Host tests for the 16550A UART model (hv.vmm.devices.uart) through its
# ports: Linux's 8250 autoconfig probe sequence, the divisor latch, IER/IIR
# priorities, THRE and receive interrupts on IRQ 4 behind OUT2, the FIFO and
# its trigger levels, loopback with modem status, and host console input.
from hv.vmm.devices.uart import Uart

B = 0x3F8
RBR, IER, IIR, LCR, MCR, LSR, MSR, SCR = range(B, B + 8)


class Keys:
    def __init__(self, data=b""):
        self.data = bytearray(data)

    def __call__(self):
        return self.data.pop(0) if self.data else None


def make(data=b""):
    lines, keys = [], Keys(data)
    u = Uart(getc=keys, irq=lambda line, level: lines.append((line, level)))
    return u, lines, keys


def test_linux_8250_autoconfig_finds_a_16550a_with_a_16_byte_fifo():
    u, _, _ = make()
    out = u.io_write
    # autoconfig(): IER scratch test.
    out(IER, 1, 0)
    assert u.io_read(IER, 1) & 0x0F == 0
    out(IER, 1, 0x0F)
    assert u.io_read(IER, 1) & 0x0F == 0x0F
    out(IER, 1, 0)
    # Loopback check: MCR = LOOP | RTS | OUT2 reads back CTS | DCD.
    out(MCR, 1, 0x10 | 0x0A)
    assert u.io_read(MSR, 1) & 0xF0 == 0x90
    out(MCR, 1, 0)
    # FIFO type: IIR bits 7:6 = 11 with FCR0 set.
    out(IIR, 1, 0x01)
    assert u.io_read(IIR, 1) >> 6 == 3
    # autoconfig_16550a(): no EFR behind LCR 0x80 or 0xBF, no 64-byte FIFO, no UUE bit.
    for lcr in (0x80, 0xBF):
        out(LCR, 1, lcr)
        assert u.io_read(IIR, 1) != 0
    out(LCR, 1, 0)
    out(IIR, 1, 0x21)
    status1 = u.io_read(IIR, 1) >> 5
    out(LCR, 1, 0x80)
    out(IIR, 1, 0x21)
    status2 = u.io_read(IIR, 1) >> 5
    out(LCR, 1, 0)
    assert (status1, status2) == (6, 6)
    out(IER, 1, 0x40)
    assert not u.io_read(IER, 1) & 0x40
    # size_fifo(): loopback at divisor 1, 256 bytes sent, count what comes back.
    out(IIR, 1, 0x07)
    out(MCR, 1, 0x10)
    out(LCR, 1, 0x80)
    out(RBR, 1, 1)
    out(IER, 1, 0)
    out(LCR, 1, 0x03)
    for i in range(256):
        out(RBR, 1, i)
    count = 0
    while u.io_read(LSR, 1) & 0x01 and count < 256:
        assert u.io_read(RBR, 1) == count
        count += 1
    assert count == 16 and u.output == bytearray()      # loopback: nothing reached the console


def test_thre_reasserts_whenever_enabled_and_the_transmitter_is_idle():
    # serial8250_do_startup()'s UART_BUG_THRE test.
    u, lines, _ = make()
    u.io_write(MCR, 1, 0x08)                             # OUT2: the PC's IRQ enable
    u.io_write(IER, 1, 0x02)
    assert lines == [(4, True)]
    assert u.io_read(IIR, 1) == 0x02                     # THRE, and the read clears it
    assert u.io_read(IIR, 1) == 0x01 and lines[-1] == (4, False)
    u.io_write(IER, 1, 0)
    u.io_write(IER, 1, 0x02)
    assert u.io_read(IIR, 1) == 0x02
    u.io_write(RBR, 1, ord("x"))                         # written and gone: THRE again
    assert u.io_read(IIR, 1) == 0x02 and u.output == bytearray(b"x")
    assert u.io_read(LSR, 1) == 0x60


def test_out2_gates_the_interrupt_and_loopback_silences_it():
    u, lines, _ = make()
    u.io_write(IER, 1, 0x02)
    assert u.io_read(IIR, 1) == 0x02 and lines == []     # pending, but OUT2 is off
    u.io_write(IER, 1, 0)
    u.io_write(IER, 1, 0x02)
    u.io_write(MCR, 1, 0x18)                             # OUT2 in loopback: still quiet
    assert lines == []
    u.io_write(MCR, 1, 0x08)
    assert lines == [(4, True)]


def test_divisor_latch_lcr_and_scratch():
    u, _, _ = make()
    u.io_write(LCR, 1, 0x83)
    u.io_write(RBR, 1, 0x01)
    u.io_write(IER, 1, 0x00)
    assert u.divisor == 1 and u.io_read(RBR, 1) == 0x01 and u.io_read(IER, 1) == 0
    assert u.io_read(LCR, 1) == 0x83
    u.io_write(LCR, 1, 0x03)
    assert u.io_read(IER, 1) == 0 and u.output == bytearray()
    u.io_write(SCR, 1, 0xA5)
    assert u.io_read(SCR, 1) == 0xA5 and u.io_read(MCR, 1) == 0


def test_receive_interrupt_16450_mode():
    u, lines, keys = make(b"ab")
    u.io_write(MCR, 1, 0x0B)
    u.io_write(IER, 1, 0x01)
    assert lines == [(4, True)] and u.io_read(IIR, 1) == 0x04
    assert u.io_read(RBR, 1) == ord("a")                 # the next byte comes in at once
    assert u.io_read(LSR, 1) & 0x01 and u.io_read(RBR, 1) == ord("b")
    assert u.io_read(LSR, 1) == 0x60 and lines[-1] == (4, False)
    assert u.io_read(RBR, 1) == ord("b")                 # RBR keeps the last byte
    keys.data.extend(b"c")
    u.poll()
    assert lines[-1] == (4, True) and u.io_read(RBR, 1) == ord("c")


def test_fifo_trigger_level_and_timeout():
    u, lines, keys = make(b"0123456789")
    u.io_write(IIR, 1, 0x81)                             # FIFO on, trigger 8
    u.io_write(MCR, 1, 0x08)
    u.io_write(IER, 1, 0x01)
    assert u.io_read(IIR, 1) == 0xC4 and u.rx_count == 10   # at or over the trigger
    for c in b"012":
        assert u.io_read(RBR, 1) == c
    assert u.io_read(IIR, 1) == 0xCC                     # 7 left: character timeout
    u.io_write(IIR, 1, 0x83)                             # clear the receive FIFO
    assert u.io_read(LSR, 1) == 0x60 and u.io_read(IIR, 1) == 0xC1
    assert lines[-1] == (4, False)
    keys.data.extend(bytes(range(40)))
    u.poll()
    assert u.rx_count == 16 and len(keys.data) == 24     # the host keeps what does not fit
    u.io_write(IIR, 1, 0x00)                             # FIFO off: both FIFOs cleared,
    assert u.rx_count == 1 and len(keys.data) == 23      # then the 1-byte RBR takes the next one
    assert u.io_read(IIR, 1) == 0x04 and u.io_read(RBR, 1) == 16


def test_overrun_in_loopback_and_interrupt_priorities():
    u, lines, _ = make()
    u.io_write(MCR, 1, 0x10)
    u.io_write(IER, 1, 0x0F)
    u.io_write(RBR, 1, 1)
    u.io_write(RBR, 1, 2)                                # 16450 mode: overwrites, OE
    assert u.io_read(IIR, 1) == 0x06                     # line status first
    assert u.io_read(LSR, 1) == 0x63 and u.io_read(LSR, 1) == 0x61   # OE cleared by the read
    assert u.io_read(IIR, 1) == 0x04 and u.io_read(RBR, 1) == 2
    assert u.io_read(IIR, 1) == 0x02
    assert u.io_read(IIR, 1) == 0x00                     # modem status: the deltas from MCR
    assert u.io_read(MSR, 1) == 0x0B and u.io_read(IIR, 1) == 0x01   # DCTS DDSR DDCD, read: cleared


def test_loopback_modem_status_deltas():
    u, _, _ = make()
    assert u.io_read(MSR, 1) == 0xB0                     # a console: CTS, DSR, DCD
    u.io_write(MCR, 1, 0x10)
    assert u.io_read(MSR, 1) == 0x0B                     # CTS, DSR, DCD dropped: deltas
    u.io_write(MCR, 1, 0x10 | 0x04)
    assert u.io_read(MSR, 1) == 0x40                     # RI on: no TERI yet
    u.io_write(MCR, 1, 0x10 | 0x01)
    assert u.io_read(MSR, 1) == 0x20 | 0x04 | 0x02       # DSR on, RI trailing edge
    u.io_write(MCR, 1, 0xFF)
    assert u.io_read(MCR, 1) == 0x1F                     # bits 7:5 read 0


def test_console_output_still_decorated_and_input_taken_in_loopback_only_from_tx():
    got = []
    u = Uart(getc=Keys(b"k"), write=got.append, prefix="> ")
    u.io_write(MCR, 1, 0x10)
    assert not u.io_read(LSR, 1) & 0x01                  # loopback: the console is cut off
    u.io_write(MCR, 1, 0x00)
    assert u.io_read(LSR, 1) & 0x01 and u.io_read(RBR, 1) == ord("k")
    u.io_write(RBR, 1, ord("y"))
    assert b"".join(got) == b"> y"
