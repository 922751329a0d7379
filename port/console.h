// The console the REPL talks to. Today it is COM1 (port/uart.c); a screen
// and keyboard can implement these functions without touching the REPL.
// Runs in 64-bit ring 0; console_rx_push is called from the UART IRQ.
// Input is flow-controlled, not dropped: while the ring is full the UART
// keeps its bytes (and drops RTS), so a pasted script arrives whole.
#ifndef MPVISOR_CONSOLE_H
#define MPVISOR_CONSOLE_H
#include <stddef.h>

void console_init(void);
void console_write(const char *s, size_t len);  // blocking, polled: safe in fault paths
int console_read(void);                         // next input byte, waiting for it
int console_rx_ready(void);                     // input waiting?
int console_rx_push(int c);                     // from the input interrupt; 0: full, not taken

#endif
