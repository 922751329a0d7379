// Privileged x86_64 instructions as inline functions, for the C natives.
// Runs in 64-bit ring 0. Each is one instruction; callers decide policy.
#ifndef MPVISOR_CPU_H
#define MPVISOR_CPU_H
#include <stdint.h>

#define MSR_FS_BASE  0xC0000100u   // SDM 4 Table 2-2
#define MSR_EFER     0xC0000080u

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4]) {
    __asm__ volatile ("cpuid" : "=a" (r[0]), "=b" (r[1]), "=c" (r[2]), "=d" (r[3])
                      : "a" (leaf), "c" (sub));
}
static inline uint64_t rdmsr(uint32_t msr) {
    uint32_t lo, hi;
    __asm__ volatile ("rdmsr" : "=a" (lo), "=d" (hi) : "c" (msr));
    return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v) {
    __asm__ volatile ("wrmsr" : : "c" (msr), "a" ((uint32_t)v), "d" ((uint32_t)(v >> 32)) : "memory");
}
static inline uint8_t inb(uint16_t port) {
    uint8_t v;
    __asm__ volatile ("inb %1, %0" : "=a" (v) : "Nd" (port));
    return v;
}
static inline uint16_t inw(uint16_t port) {
    uint16_t v;
    __asm__ volatile ("inw %1, %0" : "=a" (v) : "Nd" (port));
    return v;
}
static inline uint32_t inl(uint16_t port) {
    uint32_t v;
    __asm__ volatile ("inl %1, %0" : "=a" (v) : "Nd" (port));
    return v;
}
static inline void outb(uint16_t port, uint8_t v) {
    __asm__ volatile ("outb %0, %1" : : "a" (v), "Nd" (port));
}
static inline void outw(uint16_t port, uint16_t v) {
    __asm__ volatile ("outw %0, %1" : : "a" (v), "Nd" (port));
}
static inline void outl(uint16_t port, uint32_t v) {
    __asm__ volatile ("outl %0, %1" : : "a" (v), "Nd" (port));
}
#define DEFINE_CR_ACCESS(n) \
    static inline uint64_t read_cr##n(void) { \
        uint64_t v; __asm__ volatile ("mov %%cr" #n ", %0" : "=r" (v)); return v; } \
    static inline void write_cr##n(uint64_t v) { \
        __asm__ volatile ("mov %0, %%cr" #n : : "r" (v) : "memory"); }
DEFINE_CR_ACCESS(0)
DEFINE_CR_ACCESS(2)
DEFINE_CR_ACCESS(3)
DEFINE_CR_ACCESS(4)
DEFINE_CR_ACCESS(8)
static inline uint64_t xgetbv(uint32_t index) {
    uint32_t lo, hi;
    __asm__ volatile ("xgetbv" : "=a" (lo), "=d" (hi) : "c" (index));
    return ((uint64_t)hi << 32) | lo;
}
static inline void xsetbv(uint32_t index, uint64_t v) {
    __asm__ volatile ("xsetbv" : : "c" (index), "a" ((uint32_t)v), "d" ((uint32_t)(v >> 32)));
}
static inline uint64_t rdtsc(void) {
    uint32_t lo, hi;
    __asm__ volatile ("rdtsc" : "=a" (lo), "=d" (hi));
    return ((uint64_t)hi << 32) | lo;
}
__attribute__((noreturn)) static inline void cpu_halt_forever(void) {
    for (;;) {
        __asm__ volatile ("cli; hlt");
    }
}
#endif
