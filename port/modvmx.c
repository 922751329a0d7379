// The `vmx` module: thin wrappers over the Intel VMX instructions for the
// Python back end (py/hv/vmx/), the VM-entry loop that hands host interrupts
// to the host's own handlers, an optional native CPUID fast path and a
// minimal exit loop, both used by the benchmark. Runs in 64-bit ring 0 in
// VMX root operation; physical addresses are identity-mapped; 64-bit values
// cross as MPZ ints.
// Manual: Intel SDM Vol. 3C (2023+ numbering) 31 (VMX instruction reference,
// 31.2 VMsucceed/VMfail conventions, 31.4 error numbers), 25.9 (exit
// information fields), 28.2.2 (acknowledge interrupt on exit).
#include <stdint.h>
#include "message_exception.h"
#include "py/runtime.h"
#include "natives.h"
#include "py/objexcept.h"
#include "cpu.h"
#include "cpu_tables.h"

// VMCS fields the C side touches (SDM App. B, Tables B-9, B-10, B-14).
#define VM_INSTRUCTION_ERROR        0x4400
#define VM_EXIT_REASON              0x4402
#define VM_EXIT_INTR_INFO           0x4404
#define VM_EXIT_INSTRUCTION_LEN     0x440C
#define IDT_VECTORING_INFO          0x4408
#define GUEST_PHYSICAL_ADDRESS      0x2400
#define GUEST_INTERRUPTIBILITY_INFO 0x4824
#define GUEST_RIP                   0x681E
#define TSC_OFFSET                  0x2010
#define EXIT_QUALIFICATION          0x6400
#define EXIT_EXCEPTION_NMI          0       // SDM App. C, Table C-1
#define EXIT_EXTERNAL_INTERRUPT     1
#define EXIT_CPUID                  10
#define EXIT_VMCALL                 18
#define EXIT_IO_INSTRUCTION         30
#define EXIT_RDMSR                  31
#define EXIT_WRMSR                  32
#define EXIT_EPT_VIOLATION          48
#define EXIT_FAILED_ENTRY           (1u << 31)  // SDM 3C 25.9.1, Table 25-18
#define INTR_INFO_VALID             (1u << 31)  // SDM 3C 25.9.2, Table 25-19
#define INTR_TYPE_EXTERNAL          0
#define INTR_TYPE_NMI               2
#define NUM_HOST_VECTORS            48          // boot/vectors.asm stubs

#include "fpu.h"
#include "tier.h"

int vmx_run(uint64_t *gprs, int launched);      // port/vmx.asm
extern const uint64_t trap_vectors[];           // boot/vectors.asm

// --- vmx.VMXFail(message, error): error is the VM-instruction error number
// (SDM 3C 31.4) for VMfailValid, 0 for VMfailInvalid (no current VMCS). ---
static const qstr vmx_fail_fields[] = { MP_QSTR_error };

static void vmx_fail_attr(mp_obj_t self_in, qstr attr, mp_obj_t *dest) {
    message_exception_attr(self_in, attr, dest, vmx_fail_fields, MP_ARRAY_SIZE(vmx_fail_fields));
}

MP_DEFINE_CONST_OBJ_TYPE(
    mp_type_VMXFail, MP_QSTR_VMXFail, MP_TYPE_FLAG_NONE,
    make_new, mp_obj_exception_make_new,
    print, message_exception_print,
    attr, vmx_fail_attr,
    parent, &mp_type_Exception
    );

static uint64_t vmread_raw(uint64_t field) {
    uint64_t v = 0;
    __asm__ volatile ("vmread %1, %0" : "=r" (v) : "r" (field) : "cc");
    return v;
}

static NORETURN void raise_vmfail(const char *what, int invalid) {
    uint64_t err = invalid ? 0 : vmread_raw(VM_INSTRUCTION_ERROR);
    vstr_t msg;
    vstr_init(&msg, 64);
    if (invalid) {
        vstr_printf(&msg, "%s: VMfailInvalid (no current VMCS)", what);
    } else {
        vstr_printf(&msg, "%s: VMfailValid, VM-instruction error %u", what, (unsigned)err);
    }
    mp_obj_t args[2] = { mp_obj_new_str_from_vstr(&msg), mp_obj_new_int_from_ull(err) };
    nlr_raise(mp_obj_exception_make_new(&mp_type_VMXFail, 2, 0, args));
}

// SDM 3C 31.2: CF = 1 VMfailInvalid, ZF = 1 VMfailValid.
static void check(const char *what, uint8_t cf, uint8_t zf) {
    if (cf | zf) {
        raise_vmfail(what, cf);
    }
}

// --- Single instructions (SDM 3C 31.3) ---
#define DEFINE_PA_INSN(NAME, INSN) \
    static mp_obj_t vmx_##NAME(mp_obj_t pa_in) { \
        uint64_t pa = arg_u64(pa_in); uint8_t cf, zf; \
        __asm__ volatile (INSN " %2" : "=@ccc" (cf), "=@ccz" (zf) : "m" (pa) : "memory"); \
        check(#INSN, cf, zf); return mp_const_none; } \
    static MP_DEFINE_CONST_FUN_OBJ_1(vmx_##NAME##_obj, vmx_##NAME);
DEFINE_PA_INSN(vmxon, "vmxon")
DEFINE_PA_INSN(vmclear, "vmclear")
DEFINE_PA_INSN(vmptrld, "vmptrld")

static mp_obj_t vmx_vmxoff(void) {
    uint8_t cf, zf;
    __asm__ volatile ("vmxoff" : "=@ccc" (cf), "=@ccz" (zf) : : "memory");
    check("vmxoff", cf, zf);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(vmx_vmxoff_obj, vmx_vmxoff);

static mp_obj_t vmx_vmptrst(void) {
    uint64_t pa;
    __asm__ volatile ("vmptrst %0" : "=m" (pa) : : "memory");
    return mp_obj_new_int_from_ull(pa);
}
static MP_DEFINE_CONST_FUN_OBJ_0(vmx_vmptrst_obj, vmx_vmptrst);

static mp_obj_t vmx_vmread(mp_obj_t field) {
    uint64_t v = 0;
    uint8_t cf, zf;
    __asm__ volatile ("vmread %3, %2" : "=@ccc" (cf), "=@ccz" (zf), "=r" (v)
                      : "r" (arg_u64(field)));
    check("vmread", cf, zf);
    return mp_obj_new_int_from_ull(v);
}
static MP_DEFINE_CONST_FUN_OBJ_1(vmx_vmread_obj, vmx_vmread);

static mp_obj_t vmx_vmwrite(mp_obj_t field, mp_obj_t value) {
    uint8_t cf, zf;
    __asm__ volatile ("vmwrite %3, %2" : "=@ccc" (cf), "=@ccz" (zf)
                      : "r" (arg_u64(field)), "r" (arg_u64(value)) : "memory");
    check("vmwrite", cf, zf);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(vmx_vmwrite_obj, vmx_vmwrite);

// INVEPT descriptor: EPTP, 0; INVVPID: VPID (bits 15:0), linear address
// (SDM 3C 31.3, INVEPT and INVVPID, Figures 31-1 and 31-2).
static mp_obj_t vmx_invept(mp_obj_t type, mp_obj_t eptp) {
    uint64_t desc[2] = { arg_u64(eptp), 0 };
    uint8_t cf, zf;
    __asm__ volatile ("invept %2, %3" : "=@ccc" (cf), "=@ccz" (zf)
                      : "m" (desc), "r" (arg_u64(type)) : "memory");
    check("invept", cf, zf);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(vmx_invept_obj, vmx_invept);

static mp_obj_t vmx_invvpid(mp_obj_t type, mp_obj_t vpid, mp_obj_t gla) {
    uint64_t desc[2] = { arg_u64(vpid) & 0xFFFF, arg_u64(gla) };
    uint8_t cf, zf;
    __asm__ volatile ("invvpid %2, %3" : "=@ccc" (cf), "=@ccz" (zf)
                      : "m" (desc), "r" (arg_u64(type)) : "memory");
    check("invvpid", cf, zf);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(vmx_invvpid_obj, vmx_invvpid);

// Host selectors and descriptor-table registers for the host-state area
// (SDM 3C 25.5): (cs, ss, ds, es, fs, gs, tr, gdt_base, gdt_limit,
// idt_base, idt_limit).
static mp_obj_t vmx_host_segments(void) {
    uint16_t sel[7];
    struct __attribute__((packed)) { uint16_t limit; uint64_t base; } gdtr, idtr;
    __asm__ volatile ("mov %%cs, %0" : "=r" (sel[0]));
    __asm__ volatile ("mov %%ss, %0" : "=r" (sel[1]));
    __asm__ volatile ("mov %%ds, %0" : "=r" (sel[2]));
    __asm__ volatile ("mov %%es, %0" : "=r" (sel[3]));
    __asm__ volatile ("mov %%fs, %0" : "=r" (sel[4]));
    __asm__ volatile ("mov %%gs, %0" : "=r" (sel[5]));
    __asm__ volatile ("str %0" : "=r" (sel[6]));
    __asm__ volatile ("sgdt %0" : "=m" (gdtr));
    __asm__ volatile ("sidt %0" : "=m" (idtr));
    mp_obj_t t[11];
    for (int i = 0; i < 7; i++) {
        t[i] = MP_OBJ_NEW_SMALL_INT(sel[i]);
    }
    t[7] = mp_obj_new_int_from_ull(gdtr.base);
    t[8] = MP_OBJ_NEW_SMALL_INT(gdtr.limit);
    t[9] = mp_obj_new_int_from_ull(idtr.base);
    t[10] = MP_OBJ_NEW_SMALL_INT(idtr.limit);
    return mp_obj_new_tuple(11, t);
}
static MP_DEFINE_CONST_FUN_OBJ_0(vmx_host_segments_obj, vmx_host_segments);

// --- Host interrupts behind an exit ---
// With "acknowledge interrupt on exit" the exit has already taken the
// vector from the PIC (SDM 3C 28.2.2), so nothing is left pending: enter the
// host's own stub through the frame a 64-bit interrupt gate pushes (SS, RSP,
// RFLAGS, CS, RIP; SDM 3A 6.14.2), as Linux KVM does. Its IRET comes back
// here with RFLAGS.IF = 0 as the exit left it. NMIs go the same way.
static void host_dispatch(uint64_t vector) {
    __asm__ volatile (
        "mov %%rsp, %%rdx\n\t"          // RSP before the frame
        "and $-16, %%rsp\n\t"           // aligned, as the CPU does (6.14.2)
        "push %[ss]\n\t"
        "push %%rdx\n\t"
        "pushfq\n\t"
        "push %[cs]\n\t"
        "call *%[entry]\n\t"            // pushes RIP; the stub ends in IRETQ
        : : [entry] "r" (trap_vectors[vector]), [ss] "i" (SEL_DATA), [cs] "i" (SEL_CODE64)
        : "rdx", "memory", "cc");
}

static void host_event(uint64_t reason) {
    if (reason != EXIT_EXTERNAL_INTERRUPT && reason != EXIT_EXCEPTION_NMI) {
        return;
    }
    uint32_t info = (uint32_t)vmread_raw(VM_EXIT_INTR_INFO);
    uint32_t type = (info >> 8) & 7, vector = info & 0xFF;
    if (!(info & INTR_INFO_VALID)) {
        return;
    }
    if (type == INTR_TYPE_NMI || (reason == EXIT_EXTERNAL_INTERRUPT
                                  && vector >= PIC_VECTOR_BASE && vector < NUM_HOST_VECTORS)) {
        host_dispatch(vector);
    }
}

// --- Native CPUID table (the benchmark's; Python owns the table) ---
// Entries of 6 u32: leaf, subleaf (0xFFFFFFFF: any), EAX, EBX, ECX, EDX.
// At most FAST_BATCH exits per vmx.run() (port/natives.h), so also a host
// interrupt the exits did not take (Bochs holds one while the guest's IF is
// 0), such as Ctrl-C, comes in when Python runs with IF = 1.
static fast_table_t fast;
MP_REGISTER_ROOT_POINTER(mp_obj_t vmx_fast_table);    // keeps the table alive

// RIP past the instruction that exited, by the VM-exit instruction length
// (SDM 3C 25.9.4), which also ends blocking by STI or MOV SS (25.4.2).
static void skip_instruction(void) {
    uint64_t rip = vmread_raw(GUEST_RIP) + vmread_raw(VM_EXIT_INSTRUCTION_LEN);
    uint64_t blocking = vmread_raw(GUEST_INTERRUPTIBILITY_INFO);
    __asm__ volatile ("vmwrite %0, %1" : : "r" (rip), "r" ((uint64_t)GUEST_RIP) : "cc", "memory");
    if (blocking & 3) {
        blocking &= ~3ull;
        __asm__ volatile ("vmwrite %0, %1" : : "r" (blocking),
                          "r" ((uint64_t)GUEST_INTERRUPTIBILITY_INFO) : "cc", "memory");
    }
}

static mp_obj_t vmx_skip(void) {
    skip_instruction();
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(vmx_skip_obj, vmx_skip);

// CPUID's results (EAX, EBX, ECX, EDX at abcd), RIP past it.
static inline int cpuid_done(uint64_t *gprs, const uint32_t *abcd) {
    gprs[0] = abcd[0];                          // CPUID zero-extends into RAX..RDX
    gprs[3] = abcd[1];
    gprs[1] = abcd[2];
    gprs[2] = abcd[3];
    skip_instruction();
    return 1;
}

static int fast_cpuid(uint64_t *gprs) {
    const uint32_t *e = fast_table_find(&fast, (uint32_t)gprs[0], (uint32_t)gprs[1]);
    return e != NULL && cpuid_done(gprs, e + 2);
}

// --- Fast port I/O (port/natives.h; hv.vcpu.fastio lists the ports) ---
// An 8-bit IN or OUT, not a string one (the exit qualification, SDM 3C
// 28.2.1 Table 28-5: size bits 2:0 = 0, direction bit 3 = 1 for IN, string
// bit 4, REP bit 5, port bits 31:16), RIP past it as skip_instruction().
static fast_io_t fast_io;
MP_REGISTER_ROOT_POINTER(mp_obj_t vmx_fast_io);

static int fast_io_exit(uint64_t *gprs) {
    uint64_t q = vmread_raw(EXIT_QUALIFICATION);
    if (q & 0x37) {
        return 0;
    }
    int in = (q >> 3) & 1;
    uint8_t al = (uint8_t)gprs[0];
    if (!fast_io_serve(&fast_io, (uint32_t)(q >> 16) & 0xFFFF, in, &al)) {
        return 0;
    }
    if (in) {
        gprs[0] = (gprs[0] & ~0xFFull) | al;
    }
    skip_instruction();
    return 1;
}

// --- Tier one (port/tier.h): registered ports, MSRs and hypercalls, and
// the CPUID leaves the policy answers by leaf alone ---
// As hv.vcpu.vmx.exits has them: I/O decoded from the exit qualification
// (Table 28-5), RIP stepped before the handler; RDMSR/WRMSR on ECX,
// EDX:EAX, RIP stepped after it; VMCALL on RAX, RIP stepped before it.
// RIP steps by the exit's instruction length (skip_instruction). The
// handlers run with interrupts on, as
// Python does between entries, and off again for the next entry.
static tier_t tier;
MP_REGISTER_ROOT_POINTER(mp_obj_t vmx_tier);

static int tier_io(uint64_t *gprs) {
    uint64_t q = vmread_raw(EXIT_QUALIFICATION), at = vmread_raw(GUEST_RIP);
    uint32_t port = (q >> 16) & 0xFFFF, width = (q & 7) + 1;
    int in = (q >> 3) & 1;
    mp_obj_t fn;
    if ((q & 0x30) || width == 3 || width > 4 || (fn = tier_io_handler(&tier, port, in)) == MP_OBJ_NULL) {
        return 0;
    }
    skip_instruction();
    return tier_io_call(&tier, fn, port, width, in, &gprs[0], at);
}

static int tier_msr(uint64_t *gprs, int write) {
    uint64_t at = vmread_raw(GUEST_RIP), value = 0;
    uint32_t msr = (uint32_t)gprs[1];
    mp_obj_t fn = tier_msr_handler(&tier, msr, write);
    if (fn == MP_OBJ_NULL) {
        return 0;
    }
    uint64_t v = write ? (gprs[2] & 0xFFFFFFFFu) << 32 | (gprs[0] & 0xFFFFFFFFu) : 0;
    int r = tier_msr_call(&tier, fn, msr, write, v, at, &value);
    if (r != 1) {
        return r;
    }
    if (!write) {
        gprs[0] = value & 0xFFFFFFFFu;      // EDX:EAX, upper halves cleared
        gprs[2] = value >> 32;
    }
    skip_instruction();
    return 1;
}

static int tier_cpuid_exit(uint64_t *gprs) {
    uint32_t r[4];
    return tier_cpuid(&tier, (uint32_t)gprs[0], r) && cpuid_done(gprs, r);
}

// Fresh RAM (port/tier.h) for an EPT violation on a not-present page (the
// qualification's bits 5:3, what the entry allowed, all clear: SDM 3C
// Table 28-7), not one during event delivery (IDT-vectoring information
// valid: Python requeues the event); the guest retries the access.
static int tier_ept_violation(void) {
    if ((vmread_raw(EXIT_QUALIFICATION) & 0x38) || (vmread_raw(IDT_VECTORING_INFO) & INTR_INFO_VALID)) {
        return 0;
    }
    return tier_ram_fault(&tier, vmread_raw(GUEST_PHYSICAL_ADDRESS));
}

static int tier_vmcall(uint64_t *gprs) {
    uint64_t at = vmread_raw(GUEST_RIP), value = 0;
    mp_obj_t fn = tier_hypercall_handler(&tier, gprs[0]);
    if (fn == MP_OBJ_NULL) {
        return 0;
    }
    skip_instruction();
    int r = tier_hypercall_call(&tier, fn, gprs[0], gprs, at, &value);
    if (r == 1) {
        gprs[0] = value;
    }
    return r;
}

// An exit served here: 1 (enter again), TIER_END (Python finishes it), 0
// (Python's, untouched). Every served exit counts in fast_served() and in
// the run's allowance. Tier one only once the VMCS is launched when run()
// was called: a handler's exception leaves run() before Python could note it.
static inline int serve(uint64_t *gprs, uint64_t reason, int launched, uint64_t flags) {
    int mine = tier_mine(&tier, gprs), r = 0;
    if (mine && !*tier.left) {
        return 0;                               // this run's allowance is spent
    }
    if ((reason == EXIT_CPUID && fast.table && fast_cpuid(gprs))
        || (reason == EXIT_IO_INSTRUCTION && fast_io.table && fast_io_exit(gprs))) {
        r = 1;
    } else if (!mine || !tier_ready(&tier, &fast_io)) {
        return 0;
    } else if (reason == EXIT_CPUID) {
        r = tier_cpuid_exit(gprs);
    } else if (launched && (reason == EXIT_IO_INSTRUCTION || reason == EXIT_RDMSR
                            || reason == EXIT_WRMSR || reason == EXIT_VMCALL
                            || reason == EXIT_EPT_VIOLATION)) {
        if (flags & (1u << 9)) {
            __asm__ volatile ("sti");
        }
        r = tier_after(&tier, reason == EXIT_IO_INSTRUCTION ? tier_io(gprs)
                       : reason == EXIT_VMCALL ? tier_vmcall(gprs)
                       : reason == EXIT_EPT_VIOLATION ? tier_ept_violation()
                       : tier_msr(gprs, reason == EXIT_WRMSR));
        __asm__ volatile ("cli" : : : "memory");
    }
    if (r == 1) {
        tier_spend(&tier, mine, &fast.served);
    }
    return r;
}

// vmx.run(gprs, launched, clock) -> exit reason (bit 31 set: failed entry,
// SDM 3C 27.7); raises VMXFail on VMfail. Interrupts stay off from entry
// until the host's handler has seen the interrupt behind an exit. clock:
// the guest time's state (natives.h), its TSC offset in the TSC-offset
// field (25.6.5; the "use TSC offsetting" control is on: 26.3).
static mp_obj_t vmx_run_obj_fn(mp_obj_t gprs_in, mp_obj_t launched_in, mp_obj_t clock_in) {
    uint64_t *gprs = gprs_of(gprs_in, GPRS_FPU_SIZE), flags, reason;
    int launched = mp_obj_is_true(launched_in), was_launched = launched;
    guest_clock_t *clock = clock_of(clock_in);
    __asm__ volatile ("pushfq; pop %0; cli" : "=r" (flags) : : "memory");
    for (int batch = 0;; batch++) {
        fpu_enter(gprs);
        uint64_t offset = clock_entering(clock);
        __asm__ volatile ("vmwrite %0, %1" : : "r" (offset), "r" ((uint64_t)TSC_OFFSET) : "cc", "memory");
        int r = vmx_run(gprs, launched);
        clock_exited(clock);
        fpu_leave(gprs);
        if (r != 0) {
            if (flags & (1u << 9)) {
                __asm__ volatile ("sti");
            }
            raise_vmfail(launched ? "vmresume" : "vmlaunch", r == 1);
        }
        reason = vmread_raw(VM_EXIT_REASON) & 0xFFFFFFFFu;
        if (reason & EXIT_FAILED_ENTRY) {
            break;
        }
        launched = 1;
        host_event(reason);
        int served = batch < FAST_BATCH && MP_STATE_THREAD(mp_pending_exception) == MP_OBJ_NULL
                     ? serve(gprs, reason, was_launched, flags) : 0;
        if (served != 1) {
            if (served == TIER_END || served == TIER_DONE) {
                reason = served;
            }
            break;
        }
    }
    if (flags & (1u << 9)) {
        __asm__ volatile ("sti");
    }
    return mp_obj_new_int_from_ull(reason);
}
static MP_DEFINE_CONST_FUN_OBJ_3(vmx_run_obj, vmx_run_obj_fn);

// vmx.fast_cpuid(table) or vmx.fast_cpuid(None); either resets fast_served().
static mp_obj_t vmx_fast_cpuid(mp_obj_t table) {
    return fast_table_set(&fast, table, &MP_STATE_VM(vmx_fast_table));
}
static MP_DEFINE_CONST_FUN_OBJ_1(vmx_fast_cpuid_obj, vmx_fast_cpuid);

// vmx.fast_io(table, ring, count) or vmx.fast_io(None) (port/natives.h).
static mp_obj_t vmx_fast_io(size_t n_args, const mp_obj_t *args) {
    return fast_io_set(&fast_io, n_args, args, &MP_STATE_VM(vmx_fast_io));
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(vmx_fast_io_obj, 1, 3, vmx_fast_io);

// vmx.tier_one(tuple) or vmx.tier_one(None) (port/tier.h).
static mp_obj_t vmx_tier_one(mp_obj_t arg) {
    return tier_set(&tier, arg, &MP_STATE_VM(vmx_tier));
}
static MP_DEFINE_CONST_FUN_OBJ_1(vmx_tier_one_obj, vmx_tier_one);

static mp_obj_t vmx_fast_served(void) {
    return mp_obj_new_int_from_ull(fast.served);
}
static MP_DEFINE_CONST_FUN_OBJ_0(vmx_fast_served_obj, vmx_fast_served);

// --- Benchmark floor: the least work per exit (bench/exits.py) ---
// vmx.bench_loop(gprs, reason, n, length) re-enters the launched, current
// VMCS while the guest exits with basic reason `reason`, at most n times,
// doing only what resuming needs: RIP past the instruction by the VM-exit
// instruction length (skip_instruction), or for an EPT violation, whose
// length field is undefined (SDM 3C 25.9.4), by `length`: the access is
// skipped, not emulated. Host interrupts go to the host and are not
// counted. Returns (exits handled, the reason that ended the loop, or 0
// after n); raises VMXFail on VMfail.
static mp_obj_t vmx_bench_loop(size_t n_args, const mp_obj_t *args) {
    uint64_t *gprs = gprs_of(args[0], GPRS_FPU_SIZE), flags;
    uint64_t want = arg_u64(args[1]), n = arg_u64(args[2]), len = arg_u64(args[3]);
    uint64_t handled = 0, reason = 0;
    __asm__ volatile ("pushfq; pop %0; cli" : "=r" (flags) : : "memory");
    while (handled < n && MP_STATE_THREAD(mp_pending_exception) == MP_OBJ_NULL) {
        fpu_enter(gprs);
        int r = vmx_run(gprs, 1);
        fpu_leave(gprs);
        if (r != 0) {
            if (flags & (1u << 9)) {
                __asm__ volatile ("sti");
            }
            raise_vmfail("vmresume", r == 1);
        }
        reason = vmread_raw(VM_EXIT_REASON) & 0xFFFFFFFFu;
        host_event(reason);
        if (reason == EXIT_EXTERNAL_INTERRUPT) {
            continue;
        }
        if (reason != want) {
            break;
        }
        if (reason == EXIT_EPT_VIOLATION) {
            uint64_t rip = vmread_raw(GUEST_RIP) + len;
            __asm__ volatile ("vmwrite %0, %1" : : "r" (rip), "r" ((uint64_t)GUEST_RIP)
                              : "cc", "memory");
        } else {
            skip_instruction();
        }
        handled++;
        reason = 0;
    }
    if (flags & (1u << 9)) {
        __asm__ volatile ("sti");
    }
    mp_obj_t t[2] = { mp_obj_new_int_from_ull(handled), mp_obj_new_int_from_ull(reason) };
    return mp_obj_new_tuple(2, t);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(vmx_bench_loop_obj, 4, 4, vmx_bench_loop);

static const mp_rom_map_elem_t vmx_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_vmx) },
    { MP_ROM_QSTR(MP_QSTR_VMXFail), MP_ROM_PTR(&mp_type_VMXFail) },
    { MP_ROM_QSTR(MP_QSTR_vmxon), MP_ROM_PTR(&vmx_vmxon_obj) },
    { MP_ROM_QSTR(MP_QSTR_vmxoff), MP_ROM_PTR(&vmx_vmxoff_obj) },
    { MP_ROM_QSTR(MP_QSTR_vmclear), MP_ROM_PTR(&vmx_vmclear_obj) },
    { MP_ROM_QSTR(MP_QSTR_vmptrld), MP_ROM_PTR(&vmx_vmptrld_obj) },
    { MP_ROM_QSTR(MP_QSTR_vmptrst), MP_ROM_PTR(&vmx_vmptrst_obj) },
    { MP_ROM_QSTR(MP_QSTR_vmread), MP_ROM_PTR(&vmx_vmread_obj) },
    { MP_ROM_QSTR(MP_QSTR_vmwrite), MP_ROM_PTR(&vmx_vmwrite_obj) },
    { MP_ROM_QSTR(MP_QSTR_invept), MP_ROM_PTR(&vmx_invept_obj) },
    { MP_ROM_QSTR(MP_QSTR_invvpid), MP_ROM_PTR(&vmx_invvpid_obj) },
    { MP_ROM_QSTR(MP_QSTR_host_segments), MP_ROM_PTR(&vmx_host_segments_obj) },
    { MP_ROM_QSTR(MP_QSTR_run), MP_ROM_PTR(&vmx_run_obj) },
    { MP_ROM_QSTR(MP_QSTR_skip), MP_ROM_PTR(&vmx_skip_obj) },
    { MP_ROM_QSTR(MP_QSTR_fast_cpuid), MP_ROM_PTR(&vmx_fast_cpuid_obj) },
    { MP_ROM_QSTR(MP_QSTR_fast_served), MP_ROM_PTR(&vmx_fast_served_obj) },
    { MP_ROM_QSTR(MP_QSTR_fast_io), MP_ROM_PTR(&vmx_fast_io_obj) },
    { MP_ROM_QSTR(MP_QSTR_tier_one), MP_ROM_PTR(&vmx_tier_one_obj) },
    { MP_ROM_QSTR(MP_QSTR_bench_loop), MP_ROM_PTR(&vmx_bench_loop_obj) },
};
static MP_DEFINE_CONST_DICT(vmx_globals, vmx_globals_table);

const mp_obj_module_t vmx_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&vmx_globals,
};
MP_REGISTER_MODULE(MP_QSTR_vmx, vmx_module);
