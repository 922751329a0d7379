// Ending the run: emulator exit ports, then reset on real machines.
#ifndef MPVISOR_PLATFORM_H
#define MPVISOR_PLATFORM_H
#define PANIC_EXIT_STATUS 0x70   // QEMU reports (0x70 << 1) | 1 = 225
void platform_exit(int status) __attribute__((noreturn));
void panic(const char *fmt, ...) __attribute__((noreturn));
void kprintf(const char *fmt, ...);
#endif
