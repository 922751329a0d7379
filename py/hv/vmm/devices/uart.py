# A 16550A UART for the guest (National Semiconductor PC16550D datasheet,
# "Registers" 8.1-8.10): RBR/THR, IER, IIR with its priorities, FCR and the
# 16-byte receive FIFO, LCR/DLAB and the divisor, MCR with loopback, LSR,
# MSR, SCR; the interrupt on IRQ 4 (COM1) through the PC's OUT2 gate.
# Pure Python; host console input (getc) and output (write) come from the VMM.
from hv.vmm.devices.uart_regs import (
    BASE, RBR, IER, IIR, LCR, MCR, LSR, MSR, SCR, FIFO_SIZE, TRIGGER, MSR_CONNECTED,
    IER_RDA, IER_THRE, IER_RLS, IER_MS,
    IIR_NONE, IIR_RLS, IIR_RDA, IIR_TIMEOUT, IIR_THRE, IIR_MS, IIR_FIFO,
    FCR_ENABLE, FCR_CLEAR_RX, LCR_DLAB, MCR_DTR, MCR_RTS, MCR_OUT1, MCR_OUT2, MCR_LOOP,
    LSR_DR, LSR_OE, LSR_THRE, LSR_TEMT, MSR_CTS, MSR_DSR, MSR_RI, MSR_DCD)

PREFIX = "guest| "              # default decoration of forwarded lines
_BYTE = [bytes((b,)) for b in range(256)]   # a forwarded byte, without an allocation each


class Uart:
    """getc() -> next input byte or None (the host console, in the
    foreground); write(bytes) -> the host console, or None for no echo.
    Forwarded lines start with `prefix` and are wrapped in the ANSI colour
    `colour` (e.g. 36 for cyan); set prefix = '' and colour = None for the
    guest's bytes unchanged. `output` keeps them undecorated.
    irq(line, level) receives the interrupt on `line` (4 for COM1)."""

    def __init__(self, getc=None, write=None, prefix=PREFIX, colour=None,
                 base=BASE, irq=None, line=4):
        self.base, self.irq, self.line = base, irq, line
        self.ports = tuple(range(base, base + 8))
        self.output = bytearray()
        self.getc, self.write = getc, write
        self.prefix, self.colour = prefix, colour
        self._line_start = True
        self.ier = self.lcr = self.mcr = self.scr = self.fcr = 0
        self.divisor = 12               # 9600 baud, a BIOS's choice
        self._rx = bytearray(FIFO_SIZE)  # receive FIFO ring (one byte deep in 16450 mode)
        self._rx_head = self.rx_count = 0
        self.rbr = 0                    # the last byte received: what an empty RBR reads
        self.lsr_errors = 0             # OE (bits 4:1) until LSR is read
        self.msr_delta = 0              # MSR bits 3:0 until MSR is read
        self._thre_pending = False      # the THRE interrupt, until IIR reports it or THR is written
        self._level = False
        self.fast = None                # the vCPU's hv.vcpu.fastio.FastIo while attached

    # -- registers --------------------------------------------------------------
    def io_write(self, port, width, value):
        reg, value = port - self.base, value & 0xFF
        dlab = self.lcr & LCR_DLAB
        if reg == RBR:
            if dlab:
                self.divisor = (self.divisor & 0xFF00) | value
            else:
                self._transmit(value)
                # The hot path of a polled console (Linux's printk): with
                # neither the THRE interrupt nor loopback, nothing the
                # interrupt line depends on changed.
                if not (self.ier & IER_THRE or self.mcr & MCR_LOOP):
                    return
        elif reg == IER:
            if dlab:
                self.divisor = (self.divisor & 0xFF) | value << 8
            else:
                # 8.4: bits 7:4 are always 0. Enabling ETBEI with THR empty
                # raises THRE at once (Linux's UART_BUG_THRE test relies on it).
                if value & IER_THRE and not self.ier & IER_THRE:
                    self._thre_pending = True
                self.ier = value & 0x0F
        elif reg == IIR:
            self._fcr(value)
        elif reg == LCR:
            self.lcr = value
        elif reg == MCR:
            self._set_mcr(value & 0x1F)
        elif reg == SCR:
            self.scr = value
        self._update()                  # LSR and MSR writes: factory test only, ignored

    def io_read(self, port, width):
        reg = port - self.base
        if reg == LSR:                     # first: a polled console reads it before each byte
            n = self.rx_count
            self._receive()
            errors = self.lsr_errors
            v = LSR_THRE | LSR_TEMT | errors | (LSR_DR if self.rx_count else 0)
            if errors or self.rx_count != n:
                self.lsr_errors = 0         # "reading the LSR clears OE, PE, FE, BI"
                self._update()              # else the line cannot have changed
            return v
        dlab = self.lcr & LCR_DLAB
        if reg == RBR:
            if dlab:
                return self.divisor & 0xFF
            self._receive()
            if self.rx_count:
                self.rbr = self._rx[self._rx_head]
                self._rx_head = (self._rx_head + 1) % FIFO_SIZE
                self.rx_count -= 1
                self._receive()
            self._update()
            return self.rbr
        if reg == IER:
            return self.divisor >> 8 if dlab else self.ier
        if reg == IIR:
            self._receive()
            iir = self._iir()
            if iir == IIR_THRE:
                self._thre_pending = False   # 8.5: reading IIR clears a THRE interrupt
                self._update()
            return iir | (IIR_FIFO if self.fcr & FCR_ENABLE else 0)
        if reg == LCR:
            return self.lcr
        if reg == MCR:
            return self.mcr
        if reg == MSR:
            v = self._msr() | self.msr_delta
            self.msr_delta = 0
            self._update()
            return v
        return self.scr

    def _fcr(self, value):
        enable = value & FCR_ENABLE
        if enable != self.fcr & FCR_ENABLE:
            self.rx_count = 0               # switching FIFO mode clears both FIFOs
        if not enable:
            self.fcr = 0                    # "FCR0 must be 1 when other FCR bits are written"
            return
        if value & FCR_CLEAR_RX:
            self.rx_count = 0
        self.fcr = value & 0xC9             # bits 7:6 trigger, 3 DMA mode, 0 enable

    def _msr(self):
        m = self.mcr
        if not m & MCR_LOOP:
            return MSR_CONNECTED
        # 8.6 loopback: CTS <- RTS, DSR <- DTR, RI <- OUT1, DCD <- OUT2.
        return ((MSR_CTS if m & MCR_RTS else 0) | (MSR_DSR if m & MCR_DTR else 0) |
                (MSR_RI if m & MCR_OUT1 else 0) | (MSR_DCD if m & MCR_OUT2 else 0))

    def _set_mcr(self, value):
        before = self._msr()
        self.mcr = value
        after = self._msr()
        changed = before ^ after
        # MSR 8.7: DCTS, DDSR, DDCD on any change; TERI when RI goes off.
        self.msr_delta |= (changed >> 4) & 0x0B
        if before & MSR_RI and not after & MSR_RI:
            self.msr_delta |= 0x04

    # -- data -------------------------------------------------------------------
    def _depth(self):
        return FIFO_SIZE if self.fcr & FCR_ENABLE else 1

    def _transmit(self, byte):
        self._thre_pending = False          # written; the shift register empties at once
        if self.mcr & MCR_LOOP:
            self._put_rx(byte)              # 8.6: the transmitter feeds the receiver
        else:
            self.output.append(byte)
            if self.write is not None:
                self._forward(byte)
        if self.ier & IER_THRE:
            self._thre_pending = True

    def _push(self, byte):
        self._rx[(self._rx_head + self.rx_count) % FIFO_SIZE] = byte
        self.rx_count += 1

    def _put_rx(self, byte):
        if self.rx_count >= self._depth():
            if self._depth() == 1:
                self._rx[self._rx_head] = byte  # 16450 mode: the new byte overwrites RBR
            self.lsr_errors |= LSR_OE       # FIFO mode: the byte in the shift register is lost
        else:
            self._push(byte)

    def _receive(self):
        # Input from the host console, taken only while there is room: the
        # host keeps what the guest has no place for, so nothing overruns.
        if self.getc is None or self.mcr & MCR_LOOP:
            return
        depth = self._depth()
        while self.rx_count < depth:
            c = self.getc()
            if c is None:
                return
            self._push(c)

    def _iir(self):
        ier = self.ier
        if ier & IER_RLS and self.lsr_errors:
            return IIR_RLS
        if ier & IER_RDA and self.rx_count:
            if not self.fcr & FCR_ENABLE or self.rx_count >= TRIGGER[self.fcr >> 6]:
                return IIR_RDA
            # Below the trigger level the FIFO times out after 4 character
            # times; the host delivered its bytes at once, so that is now.
            return IIR_TIMEOUT
        if ier & IER_THRE and self._thre_pending:
            return IIR_THRE
        if ier & IER_MS and self.msr_delta:
            return IIR_MS
        return IIR_NONE

    def _update(self):
        self._receive()
        # The PC wires INTR through a driver enabled by OUT2; loopback forces
        # OUT2 inactive (8.6), so the line is quiet then.
        level = self._iir() != IIR_NONE and self.mcr & (MCR_OUT2 | MCR_LOOP) == MCR_OUT2
        if level != self._level:
            self._level = level
            if self.irq is not None:
                self.irq(self.line, level)
        if self.fast is not None:
            self._list_fast()

    # -- the natives' fast ports (hv.vcpu.fastio) -----------------------------------
    def use_fast_io(self, fast):
        """Let the natives serve the polled console's two hot accesses on
        `fast` (a vCPU's FastIo; None: no more) while they have no other
        effect: an LSR read while no error is latched (reading clears it),
        a THR write while DLAB is 0 and neither the THRE interrupt nor
        loopback is on. The lists follow every state change (_update())."""
        if self.fast is not None:
            self.fast.answer(self.base + LSR, None)
            self.fast.collect(self.base, None)
        self.fast = fast
        if fast is not None:
            self._list_fast()

    def _list_fast(self):
        f = self.fast
        f.answer(self.base + LSR, None if self.lsr_errors
                 else LSR_THRE | LSR_TEMT | (LSR_DR if self.rx_count else 0))
        thr = not (self.lcr & LCR_DLAB or self.ier & IER_THRE or self.mcr & MCR_LOOP)
        if thr != (f.sink is not None):
            f.collect(self.base, self.transmitted if thr else None)

    def transmitted(self, data):
        """Bytes the natives took at THR, in order (hv.vcpu.fastio)."""
        self.output.extend(data)
        if self.write is None:
            return
        if self.colour is None and (not self.prefix or not self._line_start and 10 not in data[:-1]):
            self.write(data)                # nothing to decorate: one write
            self._line_start = data[-1] == 10
        else:
            for b in data:
                self._forward(b)

    def poll(self, now=None):
        """Take host console input into the receiver and raise the interrupt
        it causes (the VMM calls this when the host console has input)."""
        self._receive()
        self._update()

    def polled(self):
        """Whether the guest may be polling LSR through the natives, which
        do not take host input in: the VMM then polls the console at each
        of its own polls (an exit for the host's COM1 interrupt among them),
        so DR shows."""
        return (self.fast is not None and not self.lsr_errors and self.getc is not None
                and self.rx_count < self._depth())

    def waiting(self):
        """Whether host console input would interrupt the guest now: a
        console in the foreground, the receive interrupt enabled with the
        line driver on (OUT2, no loopback) and room in the FIFO. The VMM
        then polls the console (hv.vmm.ticks inputs) and a halted guest waits."""
        return (self.getc is not None and self.ier & IER_RDA
                and self.mcr & (MCR_OUT2 | MCR_LOOP) == MCR_OUT2 and self.rx_count < self._depth())

    def next_deadline(self):
        return None                         # no timer: input arrives through poll()

    # -- the host console ---------------------------------------------------------
    def _forward(self, byte):
        if self.colour is None and (not self._line_start or not self.prefix):
            self._line_start = byte == 10
            self.write(_BYTE[byte])         # undecorated: the common case, no allocation
            return
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
