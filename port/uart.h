// 16550 UART on COM1: polled output, interrupt-driven input (IRQ 4).
#ifndef MPVISOR_UART_H
#define MPVISOR_UART_H
void uart_init(void);
void uart_putc(char c);
void uart_irq(void);
void uart_rx_resume(void);              // interrupts off: read again after a full console
void uart_flush(void);
#endif
