// 16550 UART driver for COM1 (I/O port 0x3F8, IRQ 4): polled transmit,
// receive via the "data available" interrupt feeding console_rx_push.
// Runs in 64-bit ring 0.
#include <stdint.h>
#include "cpu.h"
#include "console.h"
#include "uart.h"

#define COM1        0x3F8
#define REG_DATA    0       // DLAB=0: receive/transmit buffer
#define REG_IER     1       // interrupt enable
#define REG_FCR     2       // FIFO control
#define REG_LCR     3       // line control
#define REG_MCR     4       // modem control
#define REG_LSR     5       // line status
#define LSR_DATA_READY  0x01
#define LSR_THR_EMPTY   0x20
#define LSR_TX_IDLE     0x40    // FIFO and shift register empty
#define LCR_8N1         0x03
#define LCR_DLAB        0x80
#define IER_RX_AVAIL    0x01
#define MCR_DTR_RTS_OUT2 0x0B  // OUT2 gates the IRQ line to the PIC
#define MCR_RTS         0x02

void uart_init(void) {
    outb(COM1 + REG_IER, 0);
    outb(COM1 + REG_LCR, LCR_DLAB);
    outb(COM1 + REG_DATA, 1);           // divisor 1: 115200 baud
    outb(COM1 + REG_IER, 0);
    outb(COM1 + REG_LCR, LCR_8N1);
    outb(COM1 + REG_FCR, 0xC7);         // enable and clear FIFOs, 14-byte trigger
    outb(COM1 + REG_MCR, MCR_DTR_RTS_OUT2);
    outb(COM1 + REG_IER, IER_RX_AVAIL);
}

void uart_putc(char c) {
    while (!(inb(COM1 + REG_LSR) & LSR_THR_EMPTY)) {
    }
    outb(COM1 + REG_DATA, (uint8_t)c);
}

// A byte is taken from the receiver only once the console has room for it
// (PC16550D 8.4: RBR keeps it). When the console is full the receive
// interrupt is disabled and RTS dropped, so the FIFO fills and the sender
// waits (an emulator stops feeding a full FIFO; a real line needs RTS/CTS
// flow control, or loses what overruns the FIFO) until uart_rx_resume().
static uint8_t rx_held;                 // the byte the console refused, if rx_holding
static int rx_holding;

void uart_irq(void) {
    if (rx_holding) {
        return;
    }
    while (inb(COM1 + REG_LSR) & LSR_DATA_READY) {
        uint8_t c = inb(COM1 + REG_DATA);
        if (!console_rx_push(c)) {
            rx_held = c;
            rx_holding = 1;
            outb(COM1 + REG_IER, 0);
            outb(COM1 + REG_MCR, MCR_DTR_RTS_OUT2 & ~MCR_RTS);
            return;
        }
    }
}

void uart_rx_resume(void) {
    if (rx_holding && console_rx_push(rx_held)) {
        rx_holding = 0;
        outb(COM1 + REG_MCR, MCR_DTR_RTS_OUT2);
        outb(COM1 + REG_IER, IER_RX_AVAIL);  // raises IRQ 4 at once if bytes wait
    }
}

// Wait until the last byte has left the shift register: emulators that exit
// right after (Bochs) drop whatever is still in the FIFO.
void uart_flush(void) {
    while (!(inb(COM1 + REG_LSR) & LSR_TX_IDLE)) {
    }
}
