// Ending the run and last-resort reporting. Runs in 64-bit ring 0.
// platform_exit tries, in order: QEMU's isa-debug-exit (port 0xF4), Bochs'
// shutdown port (0x8900), the PCI reset register (0xCF9) and the keyboard
// controller reset line; on a real machine it is the reset that takes.
#include <stdarg.h>
#include <stdint.h>
#include "py/mpprint.h"
#include "cpu.h"
#include "console.h"
#include "platform.h"
#include "uart.h"

static void console_strn(void *env, const char *s, size_t len) {
    (void)env;
    console_write(s, len);
}
static const mp_print_t console_print = { NULL, console_strn };

void kprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mp_vprintf(&console_print, fmt, ap);
    va_end(ap);
}

void platform_exit(int status) {
    kprintf("\r\nmpvisor: exit status %d\r\n", status);
    __asm__ volatile ("cli");
    uart_flush();
    outb(0xF4, (uint8_t)status);            // QEMU: exits with (status << 1) | 1
    for (const char *p = "Shutdown"; *p; p++) {
        outb(0x8900, (uint8_t)*p);          // Bochs: exits the simulation
    }
    outb(0xCF9, 0x02);                      // PIIX/ICH reset control: hard reset
    outb(0xCF9, 0x06);
    while (inb(0x64) & 0x02) {              // 8042 input buffer full: wait
    }
    outb(0x64, 0xFE);                       // pulse the CPU reset line
    cpu_halt_forever();
}

void panic(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    kprintf("\r\nmpvisor: PANIC: ");
    mp_vprintf(&console_print, fmt, ap);
    va_end(ap);
    kprintf("\r\n");
    platform_exit(PANIC_EXIT_STATUS);
}
