// The console over COM1: output straight to the UART, input from a ring
// filled by the UART interrupt. Ctrl-C while Python runs becomes a
// KeyboardInterrupt instead of an input byte. Runs in 64-bit ring 0.
#include <stdint.h>
#include "py/mpconfig.h"
#include "py/runtime.h"
#include "shared/runtime/interrupt_char.h"
#include "console.h"
#include "uart.h"

#define RX_SIZE 4096                    // power of two
static volatile uint8_t rx_buf[RX_SIZE];
static volatile uint32_t rx_head, rx_tail;

void console_init(void) {
    uart_init();
}

void console_write(const char *s, size_t len) {
    while (len--) {
        uart_putc(*s++);
    }
}

int console_rx_push(int c) {
    if (rx_head - rx_tail == RX_SIZE) {
        return 0;                       // full: the UART holds on to it
    }
    if (c == mp_interrupt_char) {
        mp_sched_keyboard_interrupt();
        return 1;
    }
    rx_buf[rx_head++ % RX_SIZE] = (uint8_t)c;
    return 1;
}

int console_read(void) {
    for (;;) {
        __asm__ volatile ("cli");
        if (rx_head != rx_tail) {
            int c = rx_buf[rx_tail++ % RX_SIZE];
            if (rx_head - rx_tail == RX_SIZE / 2) {
                uart_rx_resume();       // room again: take what the UART held
            }
            __asm__ volatile ("sti");
            return c;
        }
        __asm__ volatile ("sti; hlt");  // STI shadow: no wake-up is lost
    }
}

int console_rx_ready(void) {
    return rx_head != rx_tail;
}
