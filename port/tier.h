// Tier one in the natives: a port, MSR or hypercall registered with the vCPU
// (hv.vcpu.dispatch.TierOne) is answered by the natives' run() loop, which
// calls the Python handler itself and enters the guest again, so such an
// exit costs the world switch and the handler, not a trip through
// vcpu.run()'s Python loop (KVM's in-kernel I/O bus does the same for its
// devices). A CPUID leaf the policy caches is answered without Python, and
// a nested page fault on fresh guest RAM goes to the VMM's fn the same way.
// What it records is what hv.vcpu.dispatch would: the exit ring
// (hv.vcpu.ring), the RIP behind the exit (VCpu._erip), the same register
// results. The back ends (modsvm.c, modvmx.c) decode the exit, step RIP
// and write the results; this file holds what they share. Python gets the
// exit instead, untouched, whenever it must see it: nothing registered, an
// entry with new work first (VCpu._slow: SLOW_WORK), the run's exit
// allowance spent (VCpu._left), bytes a fast OUT port collected, a string
// or REP instruction, an internal MSR (EFER), a fault during event
// delivery. Header-only; 64-bit ring 0.
#ifndef MPVISOR_TIER_H
#define MPVISOR_TIER_H

#include <stdint.h>
#include "py/runtime.h"
#include "py/nlr.h"
#include "py/objlist.h"
#include "py/smallint.h"

// The pseudo exit code run() returns for an exit tier one began here and
// Python must finish (hv.vcpu.dispatch.tier_end): an OUT whose handler
// gave a reason to stop, a GuestFault from an MSR or hypercall handler.
// Neither an SVM exit code (APM2 Appendix C) nor a VMX basic exit reason
// (SDM 3C Appendix C).
#define TIER_END 0xFFFF
// And for an exit a handler here finished but after which the next entry
// has work first (it queued an interrupt: VCpu._slow): Python takes the
// slow entry (hv.vcpu.dispatch.tier_done). Not counted as served: the
// Python loop counts it.
#define TIER_DONE 0xFFFE

// VCpu._slow[0]'s bit for new events to deliver or a TLB flush before the
// next entry (hv.vcpu.entry.SLOW_WORK). Its other bits the natives may go
// on with: a guest XCR0, which the slow entry swaps around the whole run()
// call, and events waiting for a window the hardware will report.
#define SLOW_WORK 1

// hv.vcpu.ring's slot kinds and layout: 8 slots of 6 u32 (kind | width << 5
// | a << 9, value, rip), then the count of exits recorded.
#define RING_IN         1
#define RING_OUT        2
#define RING_RDMSR      3
#define RING_WRMSR      4
#define RING_HYPERCALL  5
#define RING_PENDING    0x10
#define RING_SLOT_WORDS 6
#define RING_COUNT_WORD 48

// VCpu._tier_info's words for tier_end: the ring kind, port/MSR/number,
// width, the value written.
enum { INFO_KIND, INFO_A, INFO_WIDTH, INFO_VALUE, INFO_WORDS };

// The tuple hv.vcpu.api.VCpu._bind_natives() gives: (vcpu, io_in, io_out,
// msr_in, msr_out, hypercalls, internal MSRs, ring buffer, erip, hypercall
// args, slow, left, info, box, GuestFault, the CPUID answers by leaf, the
// vCPU's register file: only run() calls with that one are served; the
// fresh-RAM fault fn(gpa) -> True once backed, or None).
enum { T_VCPU, T_IO_IN, T_IO_OUT, T_MSR_IN, T_MSR_OUT, T_HYPERCALLS, T_INTERNAL, T_RING,
       T_ERIP, T_HC_ARGS, T_SLOW, T_LEFT, T_INFO, T_BOX, T_GUEST_FAULT, T_CPUID, T_GPRS, T_RAM,
       T_FIELDS };

typedef struct {
    mp_obj_t vcpu;
    mp_map_t *io_in, *io_out, *msr_in, *msr_out, *hypercalls, *internal, *cpuid;
    uint32_t *ring;
    uint64_t *erip, *slow, *left, *info;
    const uint64_t *gprs;
    mp_obj_list_t *hc_args, *box;
    mp_obj_t guest_fault;
    mp_obj_t ram;                       // MP_OBJ_NULL: no fresh-RAM faults here
} tier_t;

static mp_map_t *tier_map(mp_obj_t o) {
    if (!mp_obj_is_type(o, &mp_type_dict)) {
        mp_raise_TypeError(MP_ERROR_TEXT("tier_one: the tables must be dicts"));
    }
    return mp_obj_dict_get_map(o);
}

static void *tier_words(mp_obj_t o, size_t bytes) {
    mp_buffer_info_t info;
    mp_get_buffer_raise(o, &info, MP_BUFFER_RW);
    if (info.len < bytes || ((uintptr_t)info.buf & 7)) {
        mp_raise_ValueError(MP_ERROR_TEXT("tier_one: a buffer is too short or misaligned"));
    }
    return info.buf;
}

static mp_obj_list_t *tier_list(mp_obj_t o, size_t len) {
    if (!mp_obj_is_type(o, &mp_type_list) || ((mp_obj_list_t *)MP_OBJ_TO_PTR(o))->len < len) {
        mp_raise_TypeError(MP_ERROR_TEXT("tier_one: hypercall args and box must be lists"));
    }
    return MP_OBJ_TO_PTR(o);
}

// tier_one(the tuple) or tier_one(None); *root keeps the tuple (and so all
// it names) alive. t->vcpu == MP_OBJ_NULL: off.
static inline mp_obj_t tier_set(tier_t *t, mp_obj_t arg, mp_obj_t *root) {
    t->vcpu = MP_OBJ_NULL;
    *root = MP_OBJ_NULL;
    if (arg == mp_const_none) {
        return mp_const_none;
    }
    size_t n;
    mp_obj_t *f;
    mp_obj_tuple_get(arg, &n, &f);
    if (n != T_FIELDS) {
        mp_raise_TypeError(MP_ERROR_TEXT("tier_one: a tuple of 18 (hv.vcpu.api.VCpu._bind_natives)"));
    }
    tier_t s;
    s.io_in = tier_map(f[T_IO_IN]);
    s.io_out = tier_map(f[T_IO_OUT]);
    s.msr_in = tier_map(f[T_MSR_IN]);
    s.msr_out = tier_map(f[T_MSR_OUT]);
    s.hypercalls = tier_map(f[T_HYPERCALLS]);
    s.internal = tier_map(f[T_INTERNAL]);
    s.cpuid = tier_map(f[T_CPUID]);
    s.ring = tier_words(f[T_RING], (RING_COUNT_WORD + 1) * 4);
    s.erip = tier_words(f[T_ERIP], 16);
    s.slow = tier_words(f[T_SLOW], 8);
    s.left = tier_words(f[T_LEFT], 8);
    s.info = tier_words(f[T_INFO], INFO_WORDS * 8);
    s.gprs = tier_words(f[T_GPRS], 16 * 8);
    s.hc_args = tier_list(f[T_HC_ARGS], 6);
    s.box = tier_list(f[T_BOX], 1);
    if (!mp_obj_is_type(f[T_GUEST_FAULT], &mp_type_type)) {
        mp_raise_TypeError(MP_ERROR_TEXT("tier_one: GuestFault must be a class"));
    }
    s.guest_fault = f[T_GUEST_FAULT];
    s.ram = f[T_RAM] == mp_const_none ? MP_OBJ_NULL : f[T_RAM];
    s.vcpu = f[T_VCPU];
    *root = arg;
    *t = s;
    return mp_const_none;
}

// Tier one is on for the vCPU whose register file run() was given.
static inline int tier_mine(const tier_t *t, const uint64_t *gprs) {
    return t->vcpu != MP_OBJ_NULL && t->gprs == gprs;
}

// Whether an exit of that vCPU, its allowance not spent (serve() checks),
// may be served here now, before anything is decoded: no new entry work,
// and no fast-OUT bytes that must reach Python first (their order).
static inline int tier_ready(const tier_t *t, const fast_io_t *fio) {
    return !(*t->slow & SLOW_WORK) && (fio->table == NULL || *fio->count == 0);
}

// After a handler tier one called (r = 1: served): TIER_DONE instead when
// it left work for the next entry (tier_ready() saw none before it).
static inline int tier_after(const tier_t *t, int r) {
    return r == 1 && (*t->slow & SLOW_WORK) ? TIER_DONE : r;
}

// One exit served by the natives: counts in *served and, for the vCPU
// tier one is on for (`mine`), towards the run's allowance (the fast
// paths' exits too).
static inline void tier_spend(tier_t *t, int mine, uint64_t *served) {
    (*served)++;
    if (mine) {
        (*t->left)--;
    }
}

static inline mp_obj_t tier_lookup(mp_map_t *m, uint64_t key) {
    if (key > (uint64_t)MP_SMALL_INT_MAX) {
        return MP_OBJ_NULL;
    }
    mp_map_elem_t *e = mp_map_lookup(m, MP_OBJ_NEW_SMALL_INT((mp_int_t)key), MP_MAP_LOOKUP);
    return e == NULL ? MP_OBJ_NULL : e->value;
}

static inline void tier_ring_put(tier_t *t, uint64_t kind_a, uint64_t value, uint64_t rip) {
    uint32_t *p = t->ring, n = p[RING_COUNT_WORD], *s = p + (n & 7) * RING_SLOT_WORDS;
    s[0] = (uint32_t)kind_a;
    s[1] = (uint32_t)(kind_a >> 32);
    s[2] = (uint32_t)value;
    s[3] = (uint32_t)(value >> 32);
    s[4] = (uint32_t)rip;
    s[5] = (uint32_t)(rip >> 32);
    p[RING_COUNT_WORD] = n + 1;
}

static inline void tier_ring_settle(tier_t *t, uint64_t value) {
    uint32_t *p = t->ring, *s = p + ((p[RING_COUNT_WORD] - 1) & 7) * RING_SLOT_WORDS;
    s[0] &= ~RING_PENDING;
    s[2] = (uint32_t)value;
    s[3] = (uint32_t)(value >> 32);
}

// The exit's ring slot and RIP, as hv.vcpu.dispatch records them before a handler runs.
static inline void tier_record(tier_t *t, uint64_t kind, uint64_t width, uint64_t a,
                               uint64_t value, uint64_t rip) {
    tier_ring_put(t, kind | width << 5 | a << 9, value, rip);
    t->erip[0] = rip;                   // VCpu.exit_rip: retry() and fault() after a handler raised
    t->erip[1] = 1;
}

// An int result as the guest gets it: value & (2**64 - 1), as Python's mask
// would give (mpz_hash keeps the low 64 bits, two's complement).
static inline uint64_t tier_int(mp_obj_t r, const char *what, uint64_t a) {
    if (!mp_obj_is_int(r)) {
        mp_raise_msg_varg(&mp_type_TypeError, MP_ERROR_TEXT("%s 0x%lx: the handler returned %s, not an int"),
                          what, (unsigned long)a, mp_obj_get_type_str(r));
    }
    return (uint64_t)mp_obj_int_get_truncated(r);
}

// fn(args): its result, or MP_OBJ_NULL after a GuestFault when `faults`
// (the exception then waits in the box for tier_end, with `kind` and `a`
// in info). Any other exception goes on up through run(), as it would from
// the Python loop.
static inline mp_obj_t tier_call(tier_t *t, mp_obj_t fn, size_t n, const mp_obj_t *args,
                                 int faults, uint64_t kind, uint64_t a) {
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_obj_t r = mp_call_function_n_kw(fn, n, 0, args);
        nlr_pop();
        return r;
    }
    mp_obj_t exc = MP_OBJ_FROM_PTR(nlr.ret_val);
    if (faults && mp_obj_is_subclass_fast(MP_OBJ_FROM_PTR(mp_obj_get_type(exc)), t->guest_fault)) {
        t->box->items[0] = exc;
        t->info[INFO_KIND] = kind;
        t->info[INFO_A] = a;
        return MP_OBJ_NULL;
    }
    nlr_jump(nlr.ret_val);              // does not return
}

static inline mp_obj_t tier_obj(uint64_t v) {
    return v <= (uint64_t)MP_SMALL_INT_MAX ? MP_OBJ_NEW_SMALL_INT((mp_int_t)v) : mp_obj_new_int_from_ull(v);
}

// CPUID: the policy's cached answer for a leaf that ignores ECX and the
// vCPU's state (hv.vcpu.cpuid.CpuidPolicy.cached, the Python loop's lane):
// 1 and r = EAX, EBX, ECX, EDX, or 0 (Python answers). No Python runs.
static inline int tier_cpuid(const tier_t *t, uint32_t leaf, uint32_t r[4]) {
    mp_obj_t e = tier_lookup(t->cpuid, leaf);
    size_t n;
    mp_obj_t *v;
    if (e == MP_OBJ_NULL || !mp_obj_is_type(e, &mp_type_tuple)) {
        return 0;
    }
    mp_obj_tuple_get(e, &n, &v);
    if (n != 4) {
        return 0;
    }
    for (int i = 0; i < 4; i++) {
        if (!mp_obj_is_small_int(v[i])) {
            return 0;
        }
        r[i] = (uint32_t)MP_OBJ_SMALL_INT_VALUE(v[i]);
    }
    return 1;
}

// A nested page fault on a not-present page, not during event delivery:
// 1 when fn(gpa) backed it with fresh RAM (hv.vcpu.dispatch's
// _ram_inside: no device claims the page), and the guest retries the
// access; 0 leaves the fault to Python (which asks the same again, and
// finds the MMIO device or the NestedPageFault).
static inline int tier_ram_fault(const tier_t *t, uint64_t gpa) {
    return t->ram != MP_OBJ_NULL && mp_obj_is_true(mp_call_function_1(t->ram, tier_obj(gpa)));
}

// --- The three kinds. Each: the handler (MP_OBJ_NULL: Python's exit), then,
// once the back end has stepped RIP where hv.vcpu.dispatch has it stepped,
// the call: 1 served, TIER_END for Python to finish. ---
static inline mp_obj_t tier_io_handler(const tier_t *t, uint32_t port, int in) {
    return tier_lookup(in ? t->io_in : t->io_out, port);
}

static const uint64_t TIER_WIDTH_MASK[5] = { 0, 0xFF, 0xFFFF, 0, 0xFFFFFFFF };

// rax: where the back end keeps the guest's RAX (VMCB or register file).
// OUT writes AL/AX/EAX; a handler's non-None result is the reason the run
// stops (IoWrite .stop). IN's value goes into AL/AX/EAX: AL and AX keep
// the rest of RAX, EAX zero-extends (SDM 1 3.4.1.1).
static inline int tier_io_call(tier_t *t, mp_obj_t fn, uint32_t port, uint32_t width, int in,
                               uint64_t *rax, uint64_t rip) {
    uint64_t mask = TIER_WIDTH_MASK[width], data = *rax & mask;
    mp_obj_t args[3] = { MP_OBJ_NEW_SMALL_INT(port), MP_OBJ_NEW_SMALL_INT(width), tier_obj(data) };
    if (in) {
        tier_record(t, RING_IN | RING_PENDING, width, port, 0, rip);
        uint64_t value = tier_int(tier_call(t, fn, 2, args, 0, 0, 0), "port", port) & mask;
        tier_ring_settle(t, value);
        *rax = width == 4 ? value : (*rax & ~mask) | value;
        return 1;
    }
    tier_record(t, RING_OUT, width, port, data, rip);
    mp_obj_t why = tier_call(t, fn, 3, args, 0, 0, 0);
    if (why == mp_const_none) {
        return 1;
    }
    t->box->items[0] = why;
    t->info[INFO_KIND] = RING_OUT;
    t->info[INFO_A] = port;
    t->info[INFO_WIDTH] = width;
    t->info[INFO_VALUE] = data;
    return TIER_END;
}

static inline mp_obj_t tier_msr_handler(const tier_t *t, uint32_t msr, int write) {
    if (tier_lookup(t->internal, msr) != MP_OBJ_NULL) {
        return MP_OBJ_NULL;             // EFER: the back end's Python emulates it
    }
    return tier_lookup(write ? t->msr_out : t->msr_in, msr);
}

// RDMSR: *value for EDX:EAX. The back end steps RIP only after 1.
static inline int tier_msr_call(tier_t *t, mp_obj_t fn, uint32_t msr, int write, uint64_t value,
                                uint64_t rip, uint64_t *result) {
    uint64_t kind = write ? RING_WRMSR : RING_RDMSR | RING_PENDING;
    mp_obj_t args[2] = { MP_OBJ_NEW_SMALL_INT(msr), tier_obj(value) };
    tier_record(t, kind, 8, msr, value, rip);
    mp_obj_t r = tier_call(t, fn, write ? 2 : 1, args, 1, kind, msr);
    if (r == MP_OBJ_NULL) {
        return TIER_END;
    }
    if (!write) {
        *result = tier_int(r, "MSR", msr);
        tier_ring_settle(t, *result);
    }
    return 1;
}

static inline mp_obj_t tier_hypercall_handler(const tier_t *t, uint64_t nr) {
    return tier_lookup(t->hypercalls, nr);
}

// fn(vcpu, args) with the six argument registers (RDI, RSI, RDX, RCX, R8,
// R9, hv.vcpu.dispatch); RIP is already past the instruction; *rax the result.
static inline int tier_hypercall_call(tier_t *t, mp_obj_t fn, uint64_t nr, const uint64_t *gprs,
                                      uint64_t rip, uint64_t *rax) {
    static const uint8_t regs[6] = { 7, 6, 2, 1, 8, 9 };
    for (int i = 0; i < 6; i++) {
        t->hc_args->items[i] = tier_obj(gprs[regs[i]]);
    }
    tier_record(t, RING_HYPERCALL | RING_PENDING, 8, nr & 0xFFFFFFFFFFFFull, 0, rip);
    mp_obj_t args[2] = { t->vcpu, MP_OBJ_FROM_PTR(t->hc_args) };
    mp_obj_t r = tier_call(t, fn, 2, args, 1, RING_HYPERCALL, nr);
    if (r == MP_OBJ_NULL) {
        return TIER_END;
    }
    *rax = tier_int(r, "hypercall", nr);
    tier_ring_settle(t, *rax);
    return 1;
}

#endif
