// What the natives share (modhw.c, and the world-switch modules modsvm.c and
// modvmx.c): 64-bit arguments as MPZ ints, the guest register file, and the
// benchmark's native CPUID fast-path table (Python owns its contents,
// hv.vcpu.cpuid.CpuidPolicy.table). Header-only; 64-bit ring 0.
#ifndef MPVISOR_NATIVES_H
#define MPVISOR_NATIVES_H

#include <stdint.h>
#include "py/runtime.h"
#include "cpu.h"
#include "timer.h"

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

// --- Guest time (hv.vmm.ticks.Ticks.state, an array('Q') of 6): while
// `on`, the VMM's time from an exit to the next entry, less `charge` (what
// each exit may cost the guest), is left out of the guest's clock and TSC:
// the entry adds it to `stolen`, the exit stamps `exited_at`, and every
// entry loads -stolen as the TSC offset (so the guest's RDTSC agrees with
// its PIT and LAPIC timer). Done here, at the entry and exit themselves, so
// the accounting costs no Python per exit.
// `deadline` (guest TSC; 0: none) is the guest's next timer deadline
// (hv.vmm.ticks), which falls at host TSC deadline + stolen: an entry after
// VMM time moved that sets the host's 8254 again (`armed`: the host TSC it
// was last set for). Set only where the VMM decided, the timer fired during
// the VMM's own time whenever that outlasted the wait (Python under Bochs:
// milliseconds against a 4 ms tick), and the guest, entered with that
// interrupt pending, exited at once. ---
typedef struct {
    uint64_t on, stolen, exited_at, charge, deadline, armed;
} guest_clock_t;

static inline guest_clock_t *clock_of(mp_obj_t buf) {
    mp_buffer_info_t info;
    mp_get_buffer_raise(buf, &info, MP_BUFFER_RW);
    if (info.len < sizeof(guest_clock_t) || ((uintptr_t)info.buf & 7)) {
        mp_raise_ValueError(MP_ERROR_TEXT("clock must be array('Q') of 6 (hv.vmm.ticks)"));
    }
    return info.buf;
}

// The host's 8254 channel 0 as hv.host.timer programs it (8254 datasheet:
// control word 0x34 = counter 0, LSB then MSB, mode 2 rate generator; the
// count at 1.193182 MHz, 60 to 0xFFFF), set for host TSC `at`.
#define HOST_PIT_HZ 1193182u
#define HOST_PIT_MIN_COUNT 60u
#define HOST_PIT_MAX_COUNT 0xFFFFu
static inline void host_timer_set(uint64_t at, uint64_t now) {
    uint64_t hz = timer_tsc_hz(), cycles = at > now ? at - now : 0;
    if (cycles > hz / 16) {                     // beyond 0xFFFF counts (55 ms) anyway
        cycles = hz / 16;
    }
    uint64_t count = cycles * HOST_PIT_HZ / hz;
    count = count < HOST_PIT_MIN_COUNT ? HOST_PIT_MIN_COUNT
            : count > HOST_PIT_MAX_COUNT ? HOST_PIT_MAX_COUNT : count;
    outb(0x43, 0x34);
    outb(0x40, count & 0xFF);
    outb(0x40, count >> 8);
}

// At the entry: the TSC offset to load.
static inline uint64_t clock_entering(guest_clock_t *c) {
    if (c->on) {
        uint64_t now = rdtsc();
        if (c->exited_at) {
            uint64_t gap = now - c->exited_at;
            if (gap > c->charge) {
                c->stolen += gap - c->charge;
            }
            c->exited_at = 0;
        }
        if (c->deadline && c->deadline + c->stolen != c->armed) {
            c->armed = c->deadline + c->stolen;
            host_timer_set(c->armed, now);
        }
    }
    return -c->stolen;
}

static inline void clock_exited(guest_clock_t *c) {
    if (c->on) {
        c->exited_at = rdtsc();
    }
}

// --- The native CPUID fast path's table: entries of 6 u32: leaf, subleaf
// (0xFFFFFFFF: any), EAX, EBX, ECX, EDX. At most FAST_BATCH exits (fast
// paths and tier one, port/tier.h) per run() call, so Python gets a look
// during a storm, with interrupts on (a host interrupt Bochs holds while
// the guest's IF is 0, Ctrl-C); the run's exit allowance the natives keep
// themselves (VCpu._left). Each look costs a Python loop iteration: from
// 256 to 1024, the benchmark's native CPUID cost 15 (ryzen) to 43 (VMX)
// emulated instructions an exit less under Bochs (docs/performance.md). ---
#define FAST_BATCH 1024
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

// --- Fast port I/O (hv.vcpu.fastio owns the policy and the buffers): an
// 8-bit IN or OUT on a port Python listed is served inside run(), without
// Python: an IN reads the value listed with it (a status register that
// stays as it is until the device's state changes, e.g. a 16550's LSR), an
// OUT appends AL to the ring Python drains after run() returns (a transmit
// register). Table: array('I') of port | kind << 16 | value << 24 (0: a
// free slot); ring: a bytearray; count: array('Q') of 1, the bytes in the
// ring. Served exits count in fast_served(). ---
#define FAST_IO_IN  1
#define FAST_IO_OUT 2
typedef struct {
    const uint32_t *table;
    size_t entries;
    uint8_t *ring;
    size_t cap;
    uint64_t *count;
} fast_io_t;

// fast_io(table, ring, count) or fast_io(None); *root keeps the three alive.
static inline mp_obj_t fast_io_set(fast_io_t *f, size_t n_args, const mp_obj_t *args, mp_obj_t *root) {
    f->table = NULL;
    *root = MP_OBJ_NULL;
    if (args[0] == mp_const_none) {
        return mp_const_none;
    }
    if (n_args != 3) {
        mp_raise_TypeError(MP_ERROR_TEXT("fast_io(table, ring, count) or fast_io(None)"));
    }
    mp_buffer_info_t t, r, c;
    mp_get_buffer_raise(args[0], &t, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &r, MP_BUFFER_RW);
    mp_get_buffer_raise(args[2], &c, MP_BUFFER_RW);
    if (t.len % 4 || ((uintptr_t)t.buf & 3) || c.len < 8 || ((uintptr_t)c.buf & 7)) {
        mp_raise_ValueError(MP_ERROR_TEXT("fast_io: array('I') table, bytearray ring, array('Q') count"));
    }
    *root = mp_obj_new_tuple(3, args);
    f->entries = t.len / 4;
    f->ring = r.buf;
    f->cap = r.len;
    f->count = c.buf;
    f->table = t.buf;
    return mp_const_none;
}

// 1 when served (*al read from the table or appended to the ring), 0 when
// the access is Python's (not listed, or the ring is full).
static inline int fast_io_serve(const fast_io_t *f, uint32_t port, int in, uint8_t *al) {
    for (size_t i = 0; i < f->entries; i++) {
        uint32_t e = f->table[i];
        if ((e & 0xFFFF) != port) {
            continue;
        }
        uint32_t kind = (e >> 16) & 0xFF;
        if (in && kind == FAST_IO_IN) {
            *al = (uint8_t)(e >> 24);
            return 1;
        }
        if (!in && kind == FAST_IO_OUT && *f->count < f->cap) {
            f->ring[(*f->count)++] = *al;
            return 1;
        }
    }
    return 0;
}

#endif
