// mpvisor's C entry: machine set-up, then MicroPython in a soft-reboot loop
// running the frozen boot script (py/main.py) and the REPL.
// Runs in 64-bit ring 0, called from boot/entry.asm with the multiboot
// magic and information address.
#include <stdint.h>
#include "py/builtin.h"
#include "py/compile.h"
#include "py/gc.h"
#include "py/mperrno.h"
#include "py/mphal.h"
#include "py/lexer.h"
#include "py/runtime.h"
#include "py/stackctrl.h"
#include "py/stream.h"
#include "shared/readline/readline.h"
#include "shared/runtime/gchelper.h"
#include "shared/runtime/pyexec.h"
#include "console.h"
#include "cpu.h"
#include "cpu_tables.h"
#include "embedded.h"
#include "paging.h"
#include "platform.h"
#include "timer.h"
#include "trap.h"

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u
#define HEAP_SIZE (16u * 1024 * 1024)
#define STACK_LIMIT_MARGIN (16u * 1024)

extern char boot_stack_top[];
uint32_t boot_mbi_addr;

static char heap[HEAP_SIZE] __attribute__((aligned(16)));
// fs:0x28 holds the stack-protector guard that musl's libm objects check.
static uint64_t tls_block[8] = { 0, 0, 0, 0, 0, 0x2f8a1c5e9b3d7064ull, 0, 0 };

static void stack_guard_init(void) {
    tls_block[0] = (uint64_t)tls_block;     // fs:0 points at itself, as in a TCB
    wrmsr(MSR_FS_BASE, (uint64_t)tls_block);
}

// The embedded main.py, as pyexec runs code: Ctrl-C interrupts it and an
// exception is printed, then the REPL starts regardless.
static void run_boot_script(void) {
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_hal_set_interrupt_char(CHAR_CTRL_C);
        embedded_run_main();
        mp_hal_set_interrupt_char(-1);
        mp_handle_pending(true);
        nlr_pop();
    } else {
        mp_hal_set_interrupt_char(-1);
        mp_handle_pending(false);
        mp_obj_print_exception(&mp_plat_print, MP_OBJ_FROM_PTR(nlr.ret_val));
    }
}

static void micropython_session(void) {
    mp_stack_set_top(boot_stack_top);
    mp_stack_set_limit(256 * 1024 - STACK_LIMIT_MARGIN);
    gc_init(heap, heap + sizeof(heap));
    mp_init();
    readline_init0();
    fault_recovery_enable(1);
    run_boot_script();                          // banner, command line, demo
    for (;;) {
        int ret = pyexec_mode_kind == PYEXEC_MODE_RAW_REPL
            ? pyexec_raw_repl() : pyexec_friendly_repl();
        if (ret & PYEXEC_FORCED_EXIT) {
            break;                              // Ctrl-D: soft reboot
        }
    }
    fault_recovery_enable(0);
    gc_sweep_all();
    mp_deinit();
    // mp_plat_print is cooked (\n becomes \r\n): a bare \n, as upstream ports
    // print it, so pyboard.py/mpremote find "soft reboot\r\n" after Ctrl-D.
    mp_printf(&mp_plat_print, "MPY: soft reboot\n");
}

void kmain(uint32_t magic, uint32_t mbi) {
    console_init();                 // COM1, so everything after can report
    cpu_tables_init();              // TSS, IDT, PIC with only COM1 unmasked
    stack_guard_init();             // FS base for musl's stack protector
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC) {
        panic("not started by a multiboot loader (magic 0x%x)", magic);
    }
    boot_mbi_addr = mbi;
    paging_init(mbi);               // identity map of all RAM
    timer_calibrate();              // TSC against the PIT
    __asm__ volatile ("sti");       // COM1 input interrupts from here on
    for (;;) {
        micropython_session();
    }
}

// --- MicroPython port hooks ---
void gc_collect(void) {
    gc_collect_start();
    gc_helper_collect_regs_and_stack();
    gc_collect_end();
}

int mp_hal_stdin_rx_chr(void) {
    return console_read();
}

uintptr_t mp_hal_stdio_poll(uintptr_t poll_flags) {
    uintptr_t ret = poll_flags & MP_STREAM_POLL_WR;
    if ((poll_flags & MP_STREAM_POLL_RD) && console_rx_ready()) {
        ret |= MP_STREAM_POLL_RD;
    }
    return ret;
}

mp_uint_t mp_hal_stdout_tx_strn(const char *str, size_t len) {
    console_write(str, len);
    return len;
}

mp_obj_t mp_builtin_open(size_t n_args, const mp_obj_t *args, mp_map_t *kwargs) {
    mp_raise_msg(&mp_type_OSError, MP_ERROR_TEXT("no filesystem"));
}
MP_DEFINE_CONST_FUN_OBJ_KW(mp_builtin_open_obj, 1, mp_builtin_open);

void nlr_jump_fail(void *val) {
    panic("uncaught MicroPython exception (nlr_jump_fail, %p)", val);
}

void __assert_fail(const char *expr, const char *file, int line, const char *func) {
    panic("assertion \"%s\" failed at %s:%d (%s)", expr, file, line, func);
}

void __stack_chk_fail(void) {
    panic("stack smashing detected");
}
