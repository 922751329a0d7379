# The 16550A's register map (National Semiconductor PC16550D datasheet,
# Table II and "Registers" 8.1-8.10): offsets from the base port and the
# bits the model (hv.vmm.devices.uart) and the natives' fast ports use.
# Hardware facts only. Pure Python.
from micropython import const

BASE = const(0x3F8)
# Register offsets (Table II) and their bits.
RBR = const(0)                  # DLAB = 0: receive / transmit buffer; DLAB = 1: DLL
IER = const(1)                  # DLAB = 1: DLM
IIR = const(2)                  # read: IIR; write: FCR
LCR = const(3)
MCR = const(4)
LSR = const(5)
MSR = const(6)
SCR = const(7)
IER_RDA = const(0x01)           # received data available (and FIFO timeout)
IER_THRE = const(0x02)
IER_RLS = const(0x04)           # receiver line status
IER_MS = const(0x08)            # modem status
IIR_NONE = const(0x01)          # bit 0 = 1: no interrupt pending
IIR_RLS = const(0x06)
IIR_RDA = const(0x04)
IIR_TIMEOUT = const(0x0C)
IIR_THRE = const(0x02)
IIR_MS = const(0x00)
IIR_FIFO = const(0xC0)          # bits 7:6 with FCR0 = 1
FCR_ENABLE = const(0x01)
FCR_CLEAR_RX = const(0x02)
LCR_DLAB = const(0x80)
MCR_DTR = const(0x01)
MCR_RTS = const(0x02)
MCR_OUT1 = const(0x04)
MCR_OUT2 = const(0x08)          # on the PC: enables the IRQ line driver
MCR_LOOP = const(0x10)
LSR_DR = const(0x01)
LSR_OE = const(0x02)
LSR_THRE = const(0x20)
LSR_TEMT = const(0x40)
MSR_CTS = const(0x10)
MSR_DSR = const(0x20)
MSR_RI = const(0x40)
MSR_DCD = const(0x80)
MSR_CONNECTED = const(0xB0)     # a console on the line: CTS, DSR, DCD asserted (as QEMU's)
FIFO_SIZE = const(16)
TRIGGER = (1, 4, 8, 14)         # FCR bits 7:6: receiver FIFO trigger level
