// The console the REPL talks to. Today it is COM1 (port/uart.c); a screen
// and keyboard can implement these functions without touching the REPL.
// Runs in 64-bit ring 0; console_rx_push is called from the UART IRQ.
#ifndef MPVISOR_CONSOLE_H
#define MPVISOR_CONSOLE_H
#include <stddef.h>

void console_init(void);
void console_write(const char *s, size_t len);  // blocking, polled: safe in fault paths
int console_read(void);                         // next input byte, waiting for it
int console_rx_ready(void);                     // input waiting?
void console_rx_push(int c);                    // from the input interrupt

#endif
