// The x87/SSE register state (the 512-byte FXSAVE image, SDM Vol. 1 10.5.1)
// swapped between host and guest around each world switch: neither VMRUN/
// #VMEXIT (APM2 15.5.1, 15.6) nor VM entry/exit (SDM 3C 27.3, 28.5) switches
// it, and the host's C code uses XMM registers (copies, floats) while the
// guest's user space keeps live data in them. Included by modsvm.c and
// modvmx.c; runs in 64-bit ring 0. The guest's image is in its register
// file (py/hv/x86/regs.py, slots FPU..), 16-byte aligned.
#ifndef MPVISOR_FPU_H
#define MPVISOR_FPU_H
#include <stdint.h>

#define FPU_SLOT    18                      // py/hv/x86/regs.py FPU
#define FPU_BYTES   512
#define GPRS_FPU_SIZE ((FPU_SLOT * 8) + FPU_BYTES)

static uint8_t fpu_host[FPU_BYTES] __attribute__((aligned(16)));

// Host state out, guest state in: just before entering the guest.
static inline void fpu_enter(uint64_t *gprs) {
    __asm__ volatile ("fxsave64 %0" : "=m" (fpu_host) : : "memory");
    __asm__ volatile ("fxrstor64 %0" : : "m" (*(uint8_t (*)[FPU_BYTES])&gprs[FPU_SLOT]) : "memory");
}

// Guest state out, host state in: right after the exit, before any C code
// that may use SSE (the compiler is free to, -msse is on).
static inline void fpu_leave(uint64_t *gprs) {
    __asm__ volatile ("fxsave64 %0" : "=m" (*(uint8_t (*)[FPU_BYTES])&gprs[FPU_SLOT]) : : "memory");
    __asm__ volatile ("fxrstor64 %0" : : "m" (fpu_host) : "memory");
}
#endif
