// Interrupt and exception dispatch (boot/vectors.asm calls trap_dispatch).
#ifndef MPVISOR_TRAP_H
#define MPVISOR_TRAP_H
#include <stdint.h>

struct trap_frame {
    uint64_t gpr[16];           // opcode order: RAX RCX RDX RBX RSP(unused) RBP RSI RDI R8-R15
    uint64_t vector;
    uint64_t error_code;
    uint64_t rip, cs, rflags, rsp, ss;  // pushed by the CPU
};

struct cpu_fault {
    uint64_t vector, error_code, rip, cr2;
};

// While enabled, a fault in code that MicroPython can unwind (an nlr handler
// is active, the GC is not mid-operation) raises hw.CPUFault instead of
// stopping the machine.
void fault_recovery_enable(int on);
const char *vector_name(uint64_t vector);
void cpu_fault_raise(void) __attribute__((noreturn));           // port/modhw.c
void trap_dispatch(struct trap_frame *frame);
#endif
