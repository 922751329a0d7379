// What the natives share (modhw.c, and the world-switch modules modsvm.c and
// modvmx.c): 64-bit arguments as MPZ ints, the guest register file, and the
// benchmark's native CPUID fast-path table (Python owns its contents,
// hv.vcpu.cpuid.CpuidPolicy.table). Header-only; 64-bit ring 0.
#ifndef MPVISOR_NATIVES_H
#define MPVISOR_NATIVES_H

#include <stdint.h>
#include "py/runtime.h"
#include "cpu.h"

static inline uint64_t arg_u64(mp_obj_t o) {
    return mp_obj_int_get_uint_checked(o);
}

// The register file (hv.x86.regs.new_gprs): at least `size` bytes, 16-byte
// aligned (its FXSAVE image, port/fpu.h), writable; what the trampolines
// load and store.
static inline uint64_t *gprs_of(mp_obj_t buf, size_t size) {
    mp_buffer_info_t info;
    mp_get_buffer_raise(buf, &info, MP_BUFFER_RW);
    if (info.len < size || ((uintptr_t)info.buf & 15)) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("gprs must be a 16-byte aligned register "
                                                             "file of %d bytes (hv.x86.regs.new_gprs)"),
                          (int)size);
    }
    return info.buf;
}

// --- Guest time (hv.vmm.ticks.Ticks.state, an array('Q') of 3): while
// `on`, the VMM's time from an exit to the next entry is left out of the
// guest's clock and TSC: the entry adds it to `stolen`, the exit stamps
// `exited_at`, and every entry loads -stolen as the TSC offset (so the
// guest's RDTSC agrees with the PIT it calibrates against). Done here, at
// the entry and exit themselves, so the accounting costs no Python per exit
// and leaves out all of the VMM's time. ---
typedef struct {
    uint64_t on, stolen, exited_at;
} guest_clock_t;

static inline guest_clock_t *clock_of(mp_obj_t buf) {
    mp_buffer_info_t info;
    mp_get_buffer_raise(buf, &info, MP_BUFFER_RW);
    if (info.len < sizeof(guest_clock_t) || ((uintptr_t)info.buf & 7)) {
        mp_raise_ValueError(MP_ERROR_TEXT("clock must be array('Q') of 3 (hv.vmm.ticks)"));
    }
    return info.buf;
}

// At the entry: the TSC offset to load.
static inline uint64_t clock_entering(guest_clock_t *c) {
    if (c->on && c->exited_at) {
        c->stolen += rdtsc() - c->exited_at;
        c->exited_at = 0;
    }
    return -c->stolen;
}

static inline void clock_exited(guest_clock_t *c) {
    if (c->on) {
        c->exited_at = rdtsc();
    }
}

// --- The native CPUID fast path's table: entries of 6 u32: leaf, subleaf
// (0xFFFFFFFF: any), EAX, EBX, ECX, EDX. At most FAST_BATCH exits per
// run() call, so Python's exit budget and clock still get a look during a
// storm (fast_served() counts them). ---
#define FAST_BATCH 256
typedef struct {
    const uint32_t *table;
    size_t entries;
    uint64_t served;
} fast_table_t;

// table (a buffer of entries) or None; either resets the count. *root keeps
// the buffer alive (a root pointer of the calling module).
static inline mp_obj_t fast_table_set(fast_table_t *fast, mp_obj_t table, mp_obj_t *root) {
    fast->table = NULL;
    fast->served = 0;
    *root = MP_OBJ_NULL;
    if (table == mp_const_none) {
        return mp_const_none;
    }
    mp_buffer_info_t info;
    mp_get_buffer_raise(table, &info, MP_BUFFER_READ);
    if (info.len % 24 || ((uintptr_t)info.buf & 3)) {
        mp_raise_ValueError(MP_ERROR_TEXT("need a table of 6-u32 entries"));
    }
    fast->entries = info.len / 24;
    *root = table;
    fast->table = info.buf;
    return mp_const_none;
}

// The entry answering CPUID(leaf, sub), or NULL.
static inline const uint32_t *fast_table_find(const fast_table_t *fast, uint32_t leaf, uint32_t sub) {
    const uint32_t *e = fast->table;
    for (size_t i = 0; i < fast->entries; i++, e += 6) {
        if (e[0] == leaf && (e[1] == 0xFFFFFFFFu || e[1] == sub)) {
            return e;
        }
    }
    return NULL;
}

#endif
