// Exception and IRQ dispatch. Runs in 64-bit ring 0 with interrupts off,
// on the interrupted stack (or IST1 for #DF, NMI, #MC).
// A recoverable fault is redirected, by rewriting the iret frame, to
// fault_unwind_entry (boot/vectors.asm), which raises a Python exception
// on the faulting code's own stack. Anything else is reported in full on
// the console and ends the run with PANIC_EXIT_STATUS.
#include <stdint.h>
#include "py/mpstate.h"
#include "cpu.h"
#include "cpu_tables.h"
#include "platform.h"
#include "trap.h"
#include "uart.h"

#define RFLAGS_DF (1ull << 10)
#define RFLAGS_AC (1ull << 18)

extern char fault_unwind_entry[];

static int recovery_enabled;
static int trap_depth;
static int fault_raising;
struct cpu_fault last_fault;

static const char *const vector_names[32] = {  // SDM 3A Table 6-1
    "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow",
    "#BR bound range", "#UD invalid opcode", "#NM device not available",
    "#DF double fault", "coprocessor segment overrun", "#TS invalid TSS",
    "#NP segment not present", "#SS stack fault", "#GP general protection",
    "#PF page fault", "reserved 15", "#MF x87 error", "#AC alignment check",
    "#MC machine check", "#XM SIMD exception", "#VE virtualization exception",
    "#CP control protection", "reserved 22", "reserved 23", "reserved 24",
    "reserved 25", "reserved 26", "reserved 27", "#HV hypervisor injection",
    "#VC VMM communication", "#SX security exception", "reserved 31",
};

const char *vector_name(uint64_t vector) {
    return vector < 32 ? vector_names[vector] : "interrupt";
}

void fault_recovery_enable(int on) {
    recovery_enabled = on;
}

static int fault_is_recoverable(const struct trap_frame *f) {
    return recovery_enabled && trap_depth == 1 && !fault_raising
        && f->vector != 2 && f->vector != 8 && f->vector != 18
        && f->cs == SEL_CODE64
        && MP_STATE_THREAD(nlr_top) != NULL
        && MP_STATE_THREAD(gc_lock_depth) == 0;
}

static void report_fatal(const struct trap_frame *f, uint64_t cr2) {
    static const char *const names[16] = {
        "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
        "r8 ", "r9 ", "r10", "r11", "r12", "r13", "r14", "r15",
    };
    kprintf("\r\nmpvisor: FATAL CPU exception %s (vector %lu) error code 0x%lx\r\n",
        vector_name(f->vector), f->vector, f->error_code);
    kprintf("  rip %016lx  cs %04lx  rflags %016lx\r\n", f->rip, f->cs, f->rflags);
    kprintf("  cr2 %016lx  cr3 %016lx  cr0 %016lx  cr4 %016lx\r\n",
        cr2, read_cr3(), read_cr0(), read_cr4());
    for (int i = 0; i < 16; i++) {
        uint64_t v = i == 4 ? f->rsp : f->gpr[i];
        kprintf("  %s %016lx%s", names[i], v, (i % 4 == 3) ? "\r\n" : "");
    }
    kprintf("  ss %04lx  (nested depth %d)\r\n", f->ss, trap_depth);
}

static void handle_irq(int irq) {
    if (pic_spurious(irq)) {
        return;
    }
    if (irq == IRQ_COM1) {
        uart_irq();
    }
    pic_eoi(irq);
}

void trap_dispatch(struct trap_frame *f) {
    trap_depth++;
    if (f->vector >= PIC_VECTOR_BASE) {
        handle_irq((int)(f->vector - PIC_VECTOR_BASE));
    } else if (fault_is_recoverable(f)) {
        last_fault.vector = f->vector;
        last_fault.error_code = f->error_code;
        last_fault.rip = f->rip;
        last_fault.cr2 = f->vector == 14 ? read_cr2() : 0;
        fault_raising = 1;
        // Resume in fault_unwind_entry on the faulting stack, 16-byte aligned
        // with room below the old top; DF and AC cleared as the ABI expects.
        f->rsp = (f->rsp - 128) & ~15ull;
        f->rip = (uint64_t)fault_unwind_entry;
        f->rflags &= ~(RFLAGS_DF | RFLAGS_AC);
    } else {
        report_fatal(f, read_cr2());
        platform_exit(PANIC_EXIT_STATUS);
    }
    trap_depth--;
}

// Called by cpu_fault_raise once the exception object exists.
void fault_raise_done(void) {
    fault_raising = 0;
}
