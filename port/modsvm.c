// The `svm` module: thin wrappers over the AMD SVM instructions for the
// Python back end (py/hv/vcpu/svm/), plus an optional native CPUID fast path and
// a minimal exit loop, both used by the benchmark. Runs in 64-bit ring 0 as
// the SVM host. Physical addresses are identity-mapped; 64-bit values cross
// as MPZ ints.
// Manual: AMD APM Vol. 2, chapter 15 and Appendix B.
#include <stdint.h>
#include "py/runtime.h"
#include "cpu.h"
#include "natives.h"

// VMCB offsets the fast path touches (APM2 Tables B-1 and B-2).
#define VMCB_TSC_OFFSET 0x050
#define VMCB_INT_STATE  0x068
#define VMCB_EXITCODE   0x070
#define VMCB_EXITINFO2  0x080
#define VMCB_NP_CONTROL 0x090
#define VMCB_N_CR3      0x0B0
#define VMCB_NRIP       0x0C8
#define VMCB_CS_ATTRIB  0x412   // u16: L is bit 9 (APM2 15.5.1)
#define VMCB_CS_BASE    0x418
#define VMCB_EFER       0x4D0
#define VMCB_CR4        0x548
#define VMCB_CR3        0x550
#define VMCB_CR0        0x558
#define VMCB_RIP        0x578
#define VMCB_RAX        0x5F8
#define VMCB_EXITINFO1  0x078
#define VMCB_EXITINTINFO 0x088
#define EVENT_VALID     (1ull << 31)    // EXITINTINFO (APM2 15.7.2)
#define NPF_P           1ull            // EXITINFO1 of a nested page fault (15.25.6)
#define INTERRUPT_SHADOW 1ull   // INT_STATE bit 0 (APM2 15.21.5)
#define IOIO_IN         1ull    // EXITINFO1 of an IOIO intercept (APM2 15.10.2): TYPE
#define IOIO_STR_REP    0xCull  // STR (bit 2), REP (bit 3)
#define IOIO_SZ8        0x10ull
#define NP_ENABLE       1ull
#define CR0_PG          (1ull << 31)
#define CR4_LA57        (1ull << 12)
#define EFER_LMA        (1ull << 10)
#define PTE_P           1ull    // APM2 5.4, the same format nested (15.25.5)
#define PTE_PS          (1ull << 7)
#define PTE_ADDR        0x000FFFFFFFFFF000ull
#define EXIT_CPUID      0x72    // APM2 Appendix C
#define EXIT_INTR       0x60
#define EXIT_IOIO       0x7B
#define EXIT_MSR        0x7C
#define EXIT_VMMCALL    0x81
#define EXIT_NPF        0x400

#include "fpu.h"
#include "tier.h"

uint64_t svm_run(uint64_t vmcb_pa, uint64_t *gprs, uint64_t host_area_pa);   // port/svm.asm

static inline uint64_t *vmcb64(uint64_t vmcb_pa, uint32_t off) {
    return (uint64_t *)(uintptr_t)(vmcb_pa + off);
}

// --- The physical interrupt behind #VMEXIT(INTR) ---
// SVM does not report the vector (APM2 15.21.2); with GIF = 1 and IF = 0
// it is still pending in the 8259 IRR, unmasked in the IMR (8259A datasheet,
// OCW3 0x0A selects the IRR). The port remaps the PIC to vectors 32-47.
static int intr_vector = -1;

static int pic_pending_vector(void) {
    outb(0x20, 0x0A);
    outb(0xA0, 0x0A);
    uint16_t irr = inb(0x20) | (inb(0xA0) << 8);
    uint16_t pending = irr & ~(inb(0x21) | (inb(0xA1) << 8));
    for (int irq = 0; irq < 16; irq++) {
        if (pending & (1u << irq)) {
            return 32 + irq;
        }
    }
    return -1;
}

// --- Guest linear -> host physical, walked afresh at every exit ---
// The entry at `index` of the 4-level table at `table` whose leaves map
// `addr` (4 KiB, 2 MiB and 1 GiB pages, APM2 5.3), each table address
// first passed through `nested` (the guest's walk reads its tables through
// the nested ones, 15.25.5); the address `addr` maps to, or -1 where an
// entry is not present.
static int64_t walk(uint64_t table, uint64_t addr, int64_t (*nested)(uint64_t, uint64_t),
                    uint64_t ncr3) {
    for (int shift = 39; shift >= 12; shift -= 9) {
        int64_t at = nested(ncr3, (table & PTE_ADDR) + ((addr >> shift) & 511) * 8);
        if (at < 0) {
            return -1;
        }
        uint64_t e = *(const volatile uint64_t *)(uintptr_t)at;
        if (!(e & PTE_P)) {
            return -1;
        }
        if (shift == 12 || (shift <= 30 && (e & PTE_PS))) {
            uint64_t size = 1ull << shift;          // bit 12 of a large leaf is PAT
            return (int64_t)((e & PTE_ADDR & ~(size - 1)) | (addr & (size - 1)));
        }
        table = e;
    }
    return -1;
}

static int64_t host_table(uint64_t ncr3, uint64_t hpa) {
    (void)ncr3;
    return (int64_t)hpa;                            // the nested tables live in host memory
}

static int64_t nested_to_host(uint64_t ncr3, uint64_t gpa) {
    return walk(ncr3, gpa, host_table, 0);
}

// Host-physical address of the guest's linear address, through its own
// paging as the VMCB has it now (paging off, or 4-level long mode) and the
// nested tables at N_CR3; -1 where it is left to Python (legacy or PAE
// paging, 5-level, no nested paging, not mapped).
static int64_t guest_linear_to_host(uint64_t vmcb_pa, uint64_t linear) {
    if (!(*vmcb64(vmcb_pa, VMCB_NP_CONTROL) & NP_ENABLE)) {
        return -1;
    }
    uint64_t ncr3 = *vmcb64(vmcb_pa, VMCB_N_CR3);
    if (!(*vmcb64(vmcb_pa, VMCB_CR0) & CR0_PG)) {
        return nested_to_host(ncr3, linear);
    }
    if (!(*vmcb64(vmcb_pa, VMCB_EFER) & EFER_LMA) || (*vmcb64(vmcb_pa, VMCB_CR4) & CR4_LA57)) {
        return -1;
    }
    int64_t gpa = walk(*vmcb64(vmcb_pa, VMCB_CR3), linear, nested_to_host, ncr3);
    return gpa < 0 ? -1 : nested_to_host(ncr3, (uint64_t)gpa);
}

// --- Native CPUID table (the benchmark's; Python owns the table) ---
// Entries of 6 u32: leaf, subleaf (0xFFFFFFFF: any), EAX, EBX, ECX, EDX.
// Without NRIPS the next RIP is RIP + 2 only when the bytes at the guest's
// RIP, translated at this exit (its page tables may have changed since the
// last), are 0F A2; anything else (a prefix, a page crossing, a paging
// mode walk() does not know) goes to Python. The instruction is done, so
// its interrupt shadow ends (APM2 15.21.5), as Python's advance() does. At
// most FAST_BATCH exits per svm.run() (port/natives.h).
static fast_table_t fast;
MP_REGISTER_ROOT_POINTER(mp_obj_t svm_fast_table);    // keeps the table alive

// The RIP after the intercepted instruction, which must be the `len` bytes
// `op`: nRIP with NRIPS (15.7.1), else RIP + len where the bytes at RIP,
// translated at this exit (the guest's tables may have changed since the
// last), are exactly those; 0 (Python's decoder, hv.vcpu.svm.nextrip)
// for anything else: a prefix, a page crossing, a paging mode walk() does
// not know.
static uint64_t next_rip(uint64_t vmcb_pa, const uint8_t *op, int len) {
    uint64_t rip = *vmcb64(vmcb_pa, VMCB_RIP), next = *vmcb64(vmcb_pa, VMCB_NRIP);
    if (next != 0) {
        return next;                                // NRIPS (15.7.1)
    }
    int code64 = (*vmcb64(vmcb_pa, VMCB_EFER) & EFER_LMA)
        && (*(const uint16_t *)(uintptr_t)(vmcb_pa + VMCB_CS_ATTRIB) & 0x200);
    uint64_t linear = *vmcb64(vmcb_pa, VMCB_CS_BASE) + rip;
    if (!code64) {
        linear &= 0xFFFFFFFFu;
    }
    int64_t h = guest_linear_to_host(vmcb_pa, linear);
    if (h < 0 || (h & 0xFFF) > 0x1000 - len) {
        return 0;
    }
    const volatile uint8_t *p = (const volatile uint8_t *)(uintptr_t)h;
    for (int i = 0; i < len; i++) {
        if (p[i] != op[i]) {
            return 0;
        }
    }
    next = rip + len;
    return code64 ? next : next & 0xFFFFFFFFu;
}

static const uint8_t OP_CPUID[2] = { 0x0F, 0xA2 };     // APM3: CPUID, RDMSR, WRMSR, VMMCALL
static const uint8_t OP_RDMSR[2] = { 0x0F, 0x32 };
static const uint8_t OP_WRMSR[2] = { 0x0F, 0x30 };
static const uint8_t OP_VMMCALL[3] = { 0x0F, 0x01, 0xD9 };

// CPUID's results (EAX, EBX, ECX, EDX at abcd, or NULL: not answered
// here), RIP past it when the bytes there are CPUID's; 1 when done.
static inline int cpuid_done(uint64_t vmcb_pa, uint64_t *gprs, const uint32_t *abcd) {
    uint64_t next = abcd == NULL ? 0 : next_rip(vmcb_pa, OP_CPUID, 2);
    if (next == 0) {
        return 0;
    }
    *vmcb64(vmcb_pa, VMCB_RAX) = abcd[0];       // CPUID zero-extends into RAX..RDX
    gprs[3] = abcd[1];
    gprs[1] = abcd[2];
    gprs[2] = abcd[3];
    *vmcb64(vmcb_pa, VMCB_RIP) = next;
    *vmcb64(vmcb_pa, VMCB_INT_STATE) &= ~INTERRUPT_SHADOW;
    return 1;
}

static int fast_cpuid(uint64_t vmcb_pa, uint64_t *gprs) {
    const uint32_t *e = fast_table_find(&fast, (uint32_t)*vmcb64(vmcb_pa, VMCB_RAX), (uint32_t)gprs[1]);
    return cpuid_done(vmcb_pa, gprs, e == NULL ? NULL : e + 2);
}

// --- Fast port I/O (port/natives.h; hv.vcpu.fastio lists the ports) ---
// An 8-bit IN or OUT, not a string one; EXITINFO2 is the next RIP (APM2
// 15.10.2) and the instruction ends the interrupt shadow, as Python's
// hv.vcpu.svm.exits.ioio() does.
static fast_io_t fast_io;
MP_REGISTER_ROOT_POINTER(mp_obj_t svm_fast_io);

static int fast_ioio(uint64_t vmcb_pa) {
    uint64_t info = *vmcb64(vmcb_pa, VMCB_EXITINFO1), *rax = vmcb64(vmcb_pa, VMCB_RAX);
    if ((info & IOIO_STR_REP) || !(info & IOIO_SZ8)) {
        return 0;
    }
    uint8_t al = (uint8_t)*rax;
    if (!fast_io_serve(&fast_io, (uint32_t)(info >> 16) & 0xFFFF, info & IOIO_IN, &al)) {
        return 0;
    }
    if (info & IOIO_IN) {
        *rax = (*rax & ~0xFFull) | al;
    }
    *vmcb64(vmcb_pa, VMCB_RIP) = *vmcb64(vmcb_pa, VMCB_EXITINFO2);
    *vmcb64(vmcb_pa, VMCB_INT_STATE) &= ~INTERRUPT_SHADOW;
    return 1;
}

// --- Tier one (port/tier.h): registered ports, MSRs and hypercalls, and
// the CPUID leaves the policy answers by leaf alone ---
// As hv.vcpu.svm.exits has them: IOIO decoded from EXITINFO1 (15.10.2),
// RIP := EXITINFO2 and the interrupt state cleared before the handler;
// RDMSR/WRMSR (15.11) on ECX, EDX:EAX, RIP stepped after the handler;
// VMMCALL on RAX, RIP stepped before it.
static tier_t tier;
MP_REGISTER_ROOT_POINTER(mp_obj_t svm_tier);

static int tier_ioio(uint64_t vmcb_pa) {
    uint64_t info = *vmcb64(vmcb_pa, VMCB_EXITINFO1), *rax = vmcb64(vmcb_pa, VMCB_RAX);
    uint64_t *rip = vmcb64(vmcb_pa, VMCB_RIP), at = *rip;
    uint32_t port = (info >> 16) & 0xFFFF, width = (info >> 4) & 7;
    int in = info & IOIO_IN;
    mp_obj_t fn;
    if ((info & IOIO_STR_REP) || width > 4 || (fn = tier_io_handler(&tier, port, in)) == MP_OBJ_NULL) {
        return 0;
    }
    *rip = *vmcb64(vmcb_pa, VMCB_EXITINFO2);
    *vmcb64(vmcb_pa, VMCB_INT_STATE) = 0;
    return tier_io_call(&tier, fn, port, width, in, rax, at);
}

static int tier_msr(uint64_t vmcb_pa, uint64_t *gprs) {
    uint64_t *rax = vmcb64(vmcb_pa, VMCB_RAX), at = *vmcb64(vmcb_pa, VMCB_RIP), value = 0;
    uint32_t msr = (uint32_t)gprs[1];
    int write = *vmcb64(vmcb_pa, VMCB_EXITINFO1) & 1;
    mp_obj_t fn = tier_msr_handler(&tier, msr, write);
    uint64_t next = fn == MP_OBJ_NULL ? 0 : next_rip(vmcb_pa, write ? OP_WRMSR : OP_RDMSR, 2);
    if (next == 0) {
        return 0;
    }
    uint64_t v = write ? (gprs[2] & 0xFFFFFFFFu) << 32 | (*rax & 0xFFFFFFFFu) : 0;
    int r = tier_msr_call(&tier, fn, msr, write, v, at, &value);
    if (r != 1) {
        return r;
    }
    if (!write) {
        *rax = value & 0xFFFFFFFFu;         // EDX:EAX, upper halves cleared
        gprs[2] = value >> 32;
    }
    *vmcb64(vmcb_pa, VMCB_RIP) = next;
    *vmcb64(vmcb_pa, VMCB_INT_STATE) = 0;
    return 1;
}

static int tier_cpuid_exit(uint64_t vmcb_pa, uint64_t *gprs) {
    uint32_t r[4];
    return cpuid_done(vmcb_pa, gprs, tier_cpuid(&tier, (uint32_t)*vmcb64(vmcb_pa, VMCB_RAX), r) ? r : NULL);
}

// Fresh RAM (port/tier.h) for a fault on a not-present page (EXITINFO1 P
// clear), not one that cut an event's delivery short (EXITINTINFO valid:
// Python requeues the event); the guest retries the access.
static int tier_npf(uint64_t vmcb_pa) {
    if ((*vmcb64(vmcb_pa, VMCB_EXITINFO1) & NPF_P) || (*vmcb64(vmcb_pa, VMCB_EXITINTINFO) & EVENT_VALID)) {
        return 0;
    }
    return tier_ram_fault(&tier, *vmcb64(vmcb_pa, VMCB_EXITINFO2));
}

static int tier_vmmcall(uint64_t vmcb_pa, uint64_t *gprs) {
    uint64_t *rax = vmcb64(vmcb_pa, VMCB_RAX), at = *vmcb64(vmcb_pa, VMCB_RIP), value = 0;
    mp_obj_t fn = tier_hypercall_handler(&tier, *rax);
    uint64_t next = fn == MP_OBJ_NULL ? 0 : next_rip(vmcb_pa, OP_VMMCALL, 3);
    if (next == 0) {
        return 0;
    }
    *vmcb64(vmcb_pa, VMCB_RIP) = next;
    *vmcb64(vmcb_pa, VMCB_INT_STATE) = 0;
    int r = tier_hypercall_call(&tier, fn, *rax, gprs, at, &value);
    if (r == 1) {
        *rax = value;
    }
    return r;
}

// An exit served here: 1 (enter again), TIER_END (Python finishes it), 0
// (Python's, untouched). Every served exit counts in fast_served() and in
// the run's allowance.
static inline int serve(uint64_t vmcb_pa, uint64_t *gprs, uint64_t code) {
    int mine = tier_mine(&tier, gprs), r = 0;
    if (mine && !*tier.left) {
        return 0;                               // this run's allowance is spent
    }
    if ((code == EXIT_CPUID && fast.table && fast_cpuid(vmcb_pa, gprs))
        || (code == EXIT_IOIO && fast_io.table && fast_ioio(vmcb_pa))) {
        r = 1;
    } else if (mine && tier_ready(&tier, &fast_io)) {
        r = tier_after(&tier, code == EXIT_CPUID ? tier_cpuid_exit(vmcb_pa, gprs)
                       : code == EXIT_IOIO ? tier_ioio(vmcb_pa)
                       : code == EXIT_MSR ? tier_msr(vmcb_pa, gprs)
                       : code == EXIT_VMMCALL ? tier_vmmcall(vmcb_pa, gprs)
                       : code == EXIT_NPF ? tier_npf(vmcb_pa) : 0);
    }
    if (r == 1) {
        tier_spend(&tier, mine, &fast.served);
    }
    return r;
}

// svm.run(vmcb_pa, gprs, host_area_pa, clock) -> EXITCODE; clock: the
// guest time's state (natives.h), its TSC offset in the VMCB's TSC_OFFSET
// (APM2 Table B-1: added to what the guest's RDTSC and RDTSCP read), which
// VMRUN loads each time (no VMCB clean bits are set).
static mp_obj_t svm_run_obj_fn(size_t n_args, const mp_obj_t *args) {
    uint64_t vmcb_pa = arg_u64(args[0]), host_pa = arg_u64(args[2]), code;
    uint64_t *gprs = gprs_of(args[1], GPRS_FPU_SIZE), flags;
    guest_clock_t *clock = clock_of(args[3]);
    __asm__ volatile ("pushfq; pop %0" : "=r" (flags));
    int batch = 0, served;
    do {
        fpu_enter(gprs);
        *vmcb64(vmcb_pa, VMCB_TSC_OFFSET) = clock_entering(clock);
        code = svm_run(vmcb_pa, gprs, host_pa);
        clock_exited(clock);
        fpu_leave(gprs);
        intr_vector = code == EXIT_INTR ? pic_pending_vector() : -1;
        if (flags & (1u << 9)) {
            __asm__ volatile ("sti");           // the host takes the interrupt now
        }
        served = batch++ < FAST_BATCH && MP_STATE_THREAD(mp_pending_exception) == MP_OBJ_NULL
                 ? serve(vmcb_pa, gprs, code) : 0;
    } while (served == 1);
    if (served == TIER_END || served == TIER_DONE) {
        code = served;
    }
    return mp_obj_new_int_from_uint(code);          // a small int: no allocation
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(svm_run_obj, 4, 4, svm_run_obj_fn);

// svm.fast_cpuid(table) or svm.fast_cpuid(None); either resets fast_served().
static mp_obj_t svm_fast_cpuid(mp_obj_t table) {
    return fast_table_set(&fast, table, &MP_STATE_VM(svm_fast_table));
}
static MP_DEFINE_CONST_FUN_OBJ_1(svm_fast_cpuid_obj, svm_fast_cpuid);

// svm.fast_io(table, ring, count) or svm.fast_io(None) (port/natives.h).
static mp_obj_t svm_fast_io(size_t n_args, const mp_obj_t *args) {
    return fast_io_set(&fast_io, n_args, args, &MP_STATE_VM(svm_fast_io));
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(svm_fast_io_obj, 1, 3, svm_fast_io);

// svm.tier_one(tuple) or svm.tier_one(None) (port/tier.h).
static mp_obj_t svm_tier_one(mp_obj_t arg) {
    return tier_set(&tier, arg, &MP_STATE_VM(svm_tier));
}
static MP_DEFINE_CONST_FUN_OBJ_1(svm_tier_one_obj, svm_tier_one);

static mp_obj_t svm_fast_served(void) {
    return mp_obj_new_int_from_uint(fast.served);
}
static MP_DEFINE_CONST_FUN_OBJ_0(svm_fast_served_obj, svm_fast_served);

// --- Benchmark floor: the least work per exit (bench/exits.py) ---
// svm.bench_loop(vmcb_pa, gprs, host_area_pa, exitcode, n, length) re-enters
// the guest while it exits with `exitcode`, at most n times, doing only what
// resuming needs: RIP past the instruction. IOIO: EXITINFO2 is the next RIP
// (APM2 15.10.2); NPF: RIP + length, the access skipped, not emulated; other
// intercepts: nRIP (15.7.1), or RIP + length where there is no NRIPS (QEMU
// TCG; the caller knows the benchmark guest's instruction). Physical
// interrupts go to the host and are not counted. Returns (exits handled,
// the code of the exit that ended the loop, or 0 after n).
static mp_obj_t svm_bench_loop(size_t n_args, const mp_obj_t *args) {
    uint64_t vmcb_pa = arg_u64(args[0]), host_pa = arg_u64(args[2]), flags;
    uint64_t *gprs = gprs_of(args[1], GPRS_FPU_SIZE);
    uint64_t want = arg_u64(args[3]), n = arg_u64(args[4]), len = arg_u64(args[5]);
    uint64_t handled = 0, code = 0;
    __asm__ volatile ("pushfq; pop %0" : "=r" (flags));
    while (handled < n && MP_STATE_THREAD(mp_pending_exception) == MP_OBJ_NULL) {
        fpu_enter(gprs);
        code = svm_run(vmcb_pa, gprs, host_pa);
        fpu_leave(gprs);
        if (flags & (1u << 9)) {
            __asm__ volatile ("sti");           // the host takes an interrupt now
        }
        if (code == EXIT_INTR) {
            continue;
        }
        if (code != want) {
            break;
        }
        uint64_t *rip = vmcb64(vmcb_pa, VMCB_RIP), next = *vmcb64(vmcb_pa, VMCB_NRIP);
        if (code == EXIT_IOIO) {
            next = *vmcb64(vmcb_pa, VMCB_EXITINFO2);
        } else if (code == EXIT_NPF || next == 0) {
            next = *rip + len;
        }
        *rip = next;
        handled++;
        code = 0;
    }
    mp_obj_t t[2] = { mp_obj_new_int_from_ull(handled), mp_obj_new_int_from_ull(code) };
    return mp_obj_new_tuple(2, t);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(svm_bench_loop_obj, 6, 6, svm_bench_loop);

static mp_obj_t svm_intr_vector(void) {
    return MP_OBJ_NEW_SMALL_INT(intr_vector);
}
static MP_DEFINE_CONST_FUN_OBJ_0(svm_intr_vector_obj, svm_intr_vector);

// --- Single instructions (APM3: VMLOAD, VMSAVE, CLGI, STGI, INVLPGA) ---
static mp_obj_t svm_vmload(mp_obj_t pa) {
    __asm__ volatile ("vmload %%rax" : : "a" (arg_u64(pa)) : "memory");
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(svm_vmload_obj, svm_vmload);

static mp_obj_t svm_vmsave(mp_obj_t pa) {
    __asm__ volatile ("vmsave %%rax" : : "a" (arg_u64(pa)) : "memory");
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(svm_vmsave_obj, svm_vmsave);

static mp_obj_t svm_clgi(void) {
    __asm__ volatile ("clgi" : : : "memory");
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(svm_clgi_obj, svm_clgi);

static mp_obj_t svm_stgi(void) {
    __asm__ volatile ("stgi" : : : "memory");
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(svm_stgi_obj, svm_stgi);

static mp_obj_t svm_invlpga(mp_obj_t va, mp_obj_t asid) {
    __asm__ volatile ("invlpga %%rax, %%ecx" : : "a" (arg_u64(va)), "c" ((uint32_t)arg_u64(asid)) : "memory");
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(svm_invlpga_obj, svm_invlpga);

static const mp_rom_map_elem_t svm_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_svm) },
    { MP_ROM_QSTR(MP_QSTR_run), MP_ROM_PTR(&svm_run_obj) },
    { MP_ROM_QSTR(MP_QSTR_intr_vector), MP_ROM_PTR(&svm_intr_vector_obj) },
    { MP_ROM_QSTR(MP_QSTR_fast_cpuid), MP_ROM_PTR(&svm_fast_cpuid_obj) },
    { MP_ROM_QSTR(MP_QSTR_fast_served), MP_ROM_PTR(&svm_fast_served_obj) },
    { MP_ROM_QSTR(MP_QSTR_fast_io), MP_ROM_PTR(&svm_fast_io_obj) },
    { MP_ROM_QSTR(MP_QSTR_tier_one), MP_ROM_PTR(&svm_tier_one_obj) },
    { MP_ROM_QSTR(MP_QSTR_bench_loop), MP_ROM_PTR(&svm_bench_loop_obj) },
    { MP_ROM_QSTR(MP_QSTR_vmload), MP_ROM_PTR(&svm_vmload_obj) },
    { MP_ROM_QSTR(MP_QSTR_vmsave), MP_ROM_PTR(&svm_vmsave_obj) },
    { MP_ROM_QSTR(MP_QSTR_clgi), MP_ROM_PTR(&svm_clgi_obj) },
    { MP_ROM_QSTR(MP_QSTR_stgi), MP_ROM_PTR(&svm_stgi_obj) },
    { MP_ROM_QSTR(MP_QSTR_invlpga), MP_ROM_PTR(&svm_invlpga_obj) },
};
static MP_DEFINE_CONST_DICT(svm_globals, svm_globals_table);

const mp_obj_module_t svm_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&svm_globals,
};
MP_REGISTER_MODULE(MP_QSTR_svm, svm_module);
