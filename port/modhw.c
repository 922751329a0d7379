// The `hw` module: thin wrappers over privileged instructions and physical
// memory, for the Python hypervisor. Runs in 64-bit ring 0. A CPU fault in
// any of these (a #GP from rdmsr, a #PF on an unmapped address) surfaces as
// hw.CPUFault (see port/trap.c); 64-bit values cross as MPZ ints.
#include <stdint.h>
#include <string.h>
#include "py/runtime.h"
#include "natives.h"
#include "py/objarray.h"
#include "py/objexcept.h"
#include "py/objstr.h"
#include "shared/runtime/pyexec.h"
#include "console.h"
#include "cpu.h"
#include "message_exception.h"
#include "paging.h"
#include "platform.h"
#include "timer.h"
#include "trap.h"

extern char __load_start[], __bss_end[];
extern uint32_t boot_mbi_addr;
extern struct cpu_fault last_fault;
void fault_raise_done(void);

// A small int when it fits (no heap allocation), MPZ above 2**62.
static mp_obj_t new_u64(uint64_t v) {
    return mp_obj_new_int_from_uint(v);
}

// --- CPUID, MSRs, XCRs, TSC ---
static mp_obj_t hw_cpuid(size_t n_args, const mp_obj_t *args) {
    uint32_t r[4];
    cpuid(arg_u64(args[0]), n_args > 1 ? arg_u64(args[1]) : 0, r);
    mp_obj_t t[4] = { new_u64(r[0]), new_u64(r[1]), new_u64(r[2]), new_u64(r[3]) };
    return mp_obj_new_tuple(4, t);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(hw_cpuid_obj, 1, 2, hw_cpuid);

static mp_obj_t hw_rdmsr(mp_obj_t msr) {
    return new_u64(rdmsr(arg_u64(msr)));
}
static MP_DEFINE_CONST_FUN_OBJ_1(hw_rdmsr_obj, hw_rdmsr);

static mp_obj_t hw_wrmsr(mp_obj_t msr, mp_obj_t value) {
    wrmsr(arg_u64(msr), arg_u64(value));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(hw_wrmsr_obj, hw_wrmsr);

static mp_obj_t hw_xgetbv(mp_obj_t index) {
    return new_u64(xgetbv(arg_u64(index)));
}
static MP_DEFINE_CONST_FUN_OBJ_1(hw_xgetbv_obj, hw_xgetbv);

static mp_obj_t hw_xsetbv(mp_obj_t index, mp_obj_t value) {
    xsetbv(arg_u64(index), arg_u64(value));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(hw_xsetbv_obj, hw_xsetbv);

static mp_obj_t hw_rdtsc(void) {
    return new_u64(rdtsc());
}
static MP_DEFINE_CONST_FUN_OBJ_0(hw_rdtsc_obj, hw_rdtsc);

static mp_obj_t hw_tsc_hz(void) {
    return new_u64(timer_tsc_hz());
}
static MP_DEFINE_CONST_FUN_OBJ_0(hw_tsc_hz_obj, hw_tsc_hz);

// --- Port I/O ---
#define DEFINE_PORT_IO(W, T) \
    static mp_obj_t hw_in##W(mp_obj_t port) { \
        return new_u64(in##W(arg_u64(port))); } \
    static MP_DEFINE_CONST_FUN_OBJ_1(hw_in##W##_obj, hw_in##W); \
    static mp_obj_t hw_out##W(mp_obj_t port, mp_obj_t v) { \
        out##W(arg_u64(port), (T)arg_u64(v)); return mp_const_none; } \
    static MP_DEFINE_CONST_FUN_OBJ_2(hw_out##W##_obj, hw_out##W);
DEFINE_PORT_IO(b, uint8_t)
DEFINE_PORT_IO(w, uint16_t)
DEFINE_PORT_IO(l, uint32_t)

// --- Control registers and EFER: crN() reads, crN(value) writes ---
#define DEFINE_CR(n) \
    static mp_obj_t hw_cr##n(size_t n_args, const mp_obj_t *args) { \
        if (n_args == 0) { return new_u64(read_cr##n()); } \
        write_cr##n(arg_u64(args[0])); return mp_const_none; } \
    static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(hw_cr##n##_obj, 0, 1, hw_cr##n);
DEFINE_CR(0)
DEFINE_CR(2)
DEFINE_CR(3)
DEFINE_CR(4)
DEFINE_CR(8)

static mp_obj_t hw_efer(size_t n_args, const mp_obj_t *args) {
    if (n_args == 0) {
        return new_u64(rdmsr(MSR_EFER));
    }
    wrmsr(MSR_EFER, arg_u64(args[0]));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(hw_efer_obj, 0, 1, hw_efer);

// --- Physical memory (identity-mapped below paging_identity_limit) ---
static void *phys_ptr(uint64_t paddr, uint64_t size) {
    uint64_t limit = paging_identity_limit();
    if (paddr >= limit || size > limit - paddr) {
        mp_raise_msg_varg(&mp_type_ValueError,
            MP_ERROR_TEXT("physical range 0x%lx+0x%lx is outside the identity map (0..0x%lx)"),
            paddr, size, limit);
    }
    return (void *)(uintptr_t)paddr;
}

static mp_obj_t hw_mem(mp_obj_t paddr, mp_obj_t size) {
    uint64_t n = arg_u64(size);
    return mp_obj_new_memoryview('B' | MP_OBJ_ARRAY_TYPECODE_FLAG_RW, n, phys_ptr(arg_u64(paddr), n));
}
static MP_DEFINE_CONST_FUN_OBJ_2(hw_mem_obj, hw_mem);

// hw.fill(paddr, size, byte): memset, the one way to zero a fresh 2 MiB
// block of guest RAM at the speed of the stores (port/memory.c); a slice
// store from a zero page copies as well as stores.
static mp_obj_t hw_fill(mp_obj_t paddr, mp_obj_t size, mp_obj_t byte) {
    uint64_t n = arg_u64(size);
    mp_int_t b = mp_obj_get_int(byte);
    if (b < 0 || b > 0xFF) {
        mp_raise_ValueError(MP_ERROR_TEXT("fill byte must be 0-255"));
    }
    memset(phys_ptr(arg_u64(paddr), n), (int)b, n);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(hw_fill_obj, hw_fill);

#define DEFINE_PHYS_ACCESS(BITS) \
    static mp_obj_t hw_read##BITS(mp_obj_t paddr) { \
        return new_u64(*(volatile uint##BITS##_t *)phys_ptr(arg_u64(paddr), BITS / 8)); } \
    static MP_DEFINE_CONST_FUN_OBJ_1(hw_read##BITS##_obj, hw_read##BITS); \
    static mp_obj_t hw_write##BITS(mp_obj_t paddr, mp_obj_t v) { \
        *(volatile uint##BITS##_t *)phys_ptr(arg_u64(paddr), BITS / 8) = (uint##BITS##_t)arg_u64(v); \
        return mp_const_none; } \
    static MP_DEFINE_CONST_FUN_OBJ_2(hw_write##BITS##_obj, hw_write##BITS);
DEFINE_PHYS_ACCESS(8)
DEFINE_PHYS_ACCESS(16)
DEFINE_PHYS_ACCESS(32)
DEFINE_PHYS_ACCESS(64)

// --- Boot facts ---
static mp_obj_t hw_mbi_addr(void) {
    return new_u64(boot_mbi_addr);
}
static MP_DEFINE_CONST_FUN_OBJ_0(hw_mbi_addr_obj, hw_mbi_addr);

static mp_obj_t hw_kernel_range(void) {
    mp_obj_t t[2] = { new_u64((uintptr_t)__load_start), new_u64((uintptr_t)__bss_end) };
    return mp_obj_new_tuple(2, t);
}
static MP_DEFINE_CONST_FUN_OBJ_0(hw_kernel_range_obj, hw_kernel_range);

static mp_obj_t hw_identity_limit(void) {
    return new_u64(paging_identity_limit());
}
static MP_DEFINE_CONST_FUN_OBJ_0(hw_identity_limit_obj, hw_identity_limit);

static mp_obj_t hw_exit(size_t n_args, const mp_obj_t *args) {
    platform_exit(n_args ? mp_obj_get_int(args[0]) : 0);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(hw_exit_obj, 0, 1, hw_exit);

// True in raw-REPL mode, which a soft reboot keeps: the boot script run
// after mpremote's Ctrl-D in the raw REPL sees it and skips its run= step,
// as upstream ports skip main.py there.
static mp_obj_t hw_raw_repl(void) {
    return mp_obj_new_bool(pyexec_mode_kind == PYEXEC_MODE_RAW_REPL);
}
static MP_DEFINE_CONST_FUN_OBJ_0(hw_raw_repl_obj, hw_raw_repl);

// --- Console input without waiting (a guest's COM1 in the foreground) ---
static mp_obj_t hw_console_getc(void) {
    return console_rx_ready() ? MP_OBJ_NEW_SMALL_INT(console_read()) : mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(hw_console_getc_obj, hw_console_getc);

// --- hw.CPUFault: args are (message, vector, error_code, rip, cr2) ---
static const qstr fault_fields[] = {
    MP_QSTR_vector, MP_QSTR_error_code, MP_QSTR_rip, MP_QSTR_cr2,
};

void message_exception_attr(mp_obj_t self_in, qstr attr, mp_obj_t *dest,
    const qstr *fields, size_t n_fields) {
    mp_obj_exception_t *self = MP_OBJ_TO_PTR(self_in);
    for (size_t i = 0; i < n_fields; i++) {
        if (attr == fields[i] && dest[0] == MP_OBJ_NULL) {
            dest[0] = self->args->len > i + 1 ? self->args->items[i + 1] : mp_const_none;
            return;
        }
    }
    mp_obj_exception_attr(self_in, attr, dest);
}

// Prints only the message, not the whole args tuple.
void message_exception_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    mp_obj_exception_t *self = MP_OBJ_TO_PTR(self_in);
    if ((kind == PRINT_STR || kind == PRINT_EXC) && self->args->len > 0) {
        if (kind == PRINT_EXC) {
            mp_printf(print, "%q: ", self->base.type->name);
        }
        mp_obj_print_helper(print, self->args->items[0], PRINT_STR);
        return;
    }
    mp_obj_exception_print(print, self_in, kind);
}

static void cpu_fault_attr(mp_obj_t self_in, qstr attr, mp_obj_t *dest) {
    message_exception_attr(self_in, attr, dest, fault_fields, MP_ARRAY_SIZE(fault_fields));
}

MP_DEFINE_CONST_OBJ_TYPE(
    mp_type_CPUFault, MP_QSTR_CPUFault, MP_TYPE_FLAG_NONE,
    make_new, mp_obj_exception_make_new,
    print, message_exception_print,
    attr, cpu_fault_attr,
    parent, &mp_type_Exception
    );

void cpu_fault_raise(void) {
    struct cpu_fault f = last_fault;
    vstr_t msg;
    vstr_init(&msg, 96);
    vstr_printf(&msg, "%s (vector %u, error code 0x%x) at rip 0x%lx",
        vector_name(f.vector), (unsigned)f.vector, (unsigned)f.error_code, f.rip);
    if (f.vector == 14) {
        vstr_printf(&msg, ", address 0x%lx", f.cr2);
    }
    mp_obj_t args[5] = {
        mp_obj_new_str_from_vstr(&msg), new_u64(f.vector), new_u64(f.error_code),
        new_u64(f.rip), new_u64(f.cr2),
    };
    mp_obj_t exc = mp_obj_exception_make_new(&mp_type_CPUFault, 5, 0, args);
    fault_raise_done();
    nlr_raise(exc);
}

static const mp_rom_map_elem_t hw_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_hw) },
    { MP_ROM_QSTR(MP_QSTR_CPUFault), MP_ROM_PTR(&mp_type_CPUFault) },
    { MP_ROM_QSTR(MP_QSTR_cpuid), MP_ROM_PTR(&hw_cpuid_obj) },
    { MP_ROM_QSTR(MP_QSTR_rdmsr), MP_ROM_PTR(&hw_rdmsr_obj) },
    { MP_ROM_QSTR(MP_QSTR_wrmsr), MP_ROM_PTR(&hw_wrmsr_obj) },
    { MP_ROM_QSTR(MP_QSTR_xgetbv), MP_ROM_PTR(&hw_xgetbv_obj) },
    { MP_ROM_QSTR(MP_QSTR_xsetbv), MP_ROM_PTR(&hw_xsetbv_obj) },
    { MP_ROM_QSTR(MP_QSTR_rdtsc), MP_ROM_PTR(&hw_rdtsc_obj) },
    { MP_ROM_QSTR(MP_QSTR_tsc_hz), MP_ROM_PTR(&hw_tsc_hz_obj) },
    { MP_ROM_QSTR(MP_QSTR_inb), MP_ROM_PTR(&hw_inb_obj) },
    { MP_ROM_QSTR(MP_QSTR_inw), MP_ROM_PTR(&hw_inw_obj) },
    { MP_ROM_QSTR(MP_QSTR_inl), MP_ROM_PTR(&hw_inl_obj) },
    { MP_ROM_QSTR(MP_QSTR_outb), MP_ROM_PTR(&hw_outb_obj) },
    { MP_ROM_QSTR(MP_QSTR_outw), MP_ROM_PTR(&hw_outw_obj) },
    { MP_ROM_QSTR(MP_QSTR_outl), MP_ROM_PTR(&hw_outl_obj) },
    { MP_ROM_QSTR(MP_QSTR_cr0), MP_ROM_PTR(&hw_cr0_obj) },
    { MP_ROM_QSTR(MP_QSTR_cr2), MP_ROM_PTR(&hw_cr2_obj) },
    { MP_ROM_QSTR(MP_QSTR_cr3), MP_ROM_PTR(&hw_cr3_obj) },
    { MP_ROM_QSTR(MP_QSTR_cr4), MP_ROM_PTR(&hw_cr4_obj) },
    { MP_ROM_QSTR(MP_QSTR_cr8), MP_ROM_PTR(&hw_cr8_obj) },
    { MP_ROM_QSTR(MP_QSTR_efer), MP_ROM_PTR(&hw_efer_obj) },
    { MP_ROM_QSTR(MP_QSTR_mem), MP_ROM_PTR(&hw_mem_obj) },
    { MP_ROM_QSTR(MP_QSTR_fill), MP_ROM_PTR(&hw_fill_obj) },
    { MP_ROM_QSTR(MP_QSTR_read8), MP_ROM_PTR(&hw_read8_obj) },
    { MP_ROM_QSTR(MP_QSTR_read16), MP_ROM_PTR(&hw_read16_obj) },
    { MP_ROM_QSTR(MP_QSTR_read32), MP_ROM_PTR(&hw_read32_obj) },
    { MP_ROM_QSTR(MP_QSTR_read64), MP_ROM_PTR(&hw_read64_obj) },
    { MP_ROM_QSTR(MP_QSTR_write8), MP_ROM_PTR(&hw_write8_obj) },
    { MP_ROM_QSTR(MP_QSTR_write16), MP_ROM_PTR(&hw_write16_obj) },
    { MP_ROM_QSTR(MP_QSTR_write32), MP_ROM_PTR(&hw_write32_obj) },
    { MP_ROM_QSTR(MP_QSTR_write64), MP_ROM_PTR(&hw_write64_obj) },
    { MP_ROM_QSTR(MP_QSTR_mbi_addr), MP_ROM_PTR(&hw_mbi_addr_obj) },
    { MP_ROM_QSTR(MP_QSTR_kernel_range), MP_ROM_PTR(&hw_kernel_range_obj) },
    { MP_ROM_QSTR(MP_QSTR_identity_limit), MP_ROM_PTR(&hw_identity_limit_obj) },
    { MP_ROM_QSTR(MP_QSTR_exit), MP_ROM_PTR(&hw_exit_obj) },
    { MP_ROM_QSTR(MP_QSTR_raw_repl), MP_ROM_PTR(&hw_raw_repl_obj) },
    { MP_ROM_QSTR(MP_QSTR_console_getc), MP_ROM_PTR(&hw_console_getc_obj) },
};
static MP_DEFINE_CONST_DICT(hw_globals, hw_globals_table);

const mp_obj_module_t hw_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&hw_globals,
};
MP_REGISTER_MODULE(MP_QSTR_hw, hw_module);
