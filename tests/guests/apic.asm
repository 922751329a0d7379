; Local APIC, I/O APIC and architectural MSR test guest (tests/target/apic_cases.py),
; run with vm.vmm.enable_apic(): CPUID and IA32_APIC_BASE, the xAPIC page (ID,
; version, ESR), self IPIs held by TPR and by CR8, NMI IPIs blocked until the
; handler's IRET, the LAPIC timer one-shot,
; periodic and TSC-deadline (TSC cycles reported on port 0x700, with a mark
; where each measurement starts, for the test to judge the rate), the PIT's IRQ 0 through I/O APIC pin 2, x2APIC MSRs, then the
; MSRs a guest of the CPU's vendor finds. Prints "<check> ok" or "<check> BAD",
; then writes 0 to port 0xF4. Guest code: 64-bit, setup('long')'s identity map
; of the first GiB; it maps linear 3-4 GiB itself (uncached 2 MiB pages).
bits 64
%include "common.inc"
org LOAD
%define APIC    0xFEE00000
%define IOAPIC  0xFEC00000
%define REPORT  0x700               ; the test's port: 32-bit OUTs of measurements
%define MARK    0xFFFFFFFF          ; ... and of the moments they start
%define PD3     0x80000
%define V_PIT   0x30
%define V_TIMER 0x40
%define V_IPI   0x41
%define ONESHOT 100000000           ; bus ticks at 1 GHz, divide by 1: 100 ms
%define PERIOD  10000000            ; 10 ms

; faults VECTOR, instruction -- runs it; ZF = 1 when it raised VECTOR
%macro faults 2+
    mov dword [last_vec], -1
    mov dword [skip], %%end - %%insn
%%insn:
    %2
%%end:
    cmp dword [last_vec], %1
%endmacro

; wait_for COUNTER, N -- halt with interrupts on until [COUNTER] >= N
%macro wait_for 2
%%again:
    cli
    cmp dword [%1], %2
    jae %%done
    sti
    hlt                             ; STI's shadow: no interrupt between them
    jmp %%again
%%done:
    sti
%endmacro

start:
    mov rsp, stack_top
    mov rdi, PD3                    ; PDEs: P RW PWT PCD PS (SDM 3A 4.5)
    mov rax, 0xC0000000 | 0x9B
    mov ecx, 512
.pde:
    mov [rdi], rax
    add rax, 0x200000
    add rdi, 8
    loop .pde
    mov rax, cr3
    and rax, -4096
    mov rax, [rax]
    and rax, -4096
    mov qword [rax + 3 * 8], PD3 | 3
    mov rax, cr3
    mov cr3, rax
    mov rax, gp_handler
    mov edi, 13
    call set_gate
    mov rax, irq_pit
    mov edi, V_PIT
    call set_gate
    mov rax, irq_timer
    mov edi, V_TIMER
    call set_gate
    mov rax, irq_ipi
    mov edi, V_IPI
    call set_gate
    mov rax, irq_spurious
    mov edi, 0xFF
    call set_gate
    mov rax, nmi_handler
    mov edi, 2
    call set_gate
    lidt [idtr]

    mov eax, 1                      ; CPUID.1: EDX.APIC[9], ECX.x2APIC[21], TSC-deadline[24]
    cpuid
    and edx, 1 << 9
    cmp edx, 1 << 9
    jne .cpuid
    and ecx, 0x1200000
    cmp ecx, 0x1200000
.cpuid:
    verdict "cpuid apic"
    mov ecx, 0x1B
    rdmsr
    cmp eax, 0xFEE00900             ; BSP, EN, the default base (SDM 3A 11.4.4)
    jne .base
    test edx, edx
.base:
    verdict "apic base"
    mov rbx, APIC                   ; after the CPUIDs, which write EBX

    mov dword [rbx + 0xF0], 0x1FF   ; SVR: software enable, spurious vector 0xFF
    mov eax, [rbx + 0x20]
    test eax, eax
    verdict "id"
    mov eax, [rbx + 0x30]
    cmp eax, 0x50014
    verdict "version"
    mov dword [rbx + 0x40], 1       ; a reserved offset
    mov dword [rbx + 0x280], 0      ; ESR: latch the errors
    mov eax, [rbx + 0x280]
    cmp eax, 0x80                   ; illegal register address (11.5.3)
    verdict "esr"

    sti
    mov dword [rbx + 0x300], 0x40000 | V_IPI    ; fixed, SELF shorthand
    nop
    cmp dword [n_ipi], 1
    verdict "self ipi"
    mov dword [rbx + 0x80], 0x50    ; TPR above the vector's class 4
    mov dword [rbx + 0x300], 0x40000 | V_IPI
    nop
    cmp dword [n_ipi], 1
    verdict "tpr holds"
    mov dword [rbx + 0x80], 0
    nop
    cmp dword [n_ipi], 2
    verdict "tpr lowered"
    mov eax, 5
    mov cr8, rax                    ; TPR[7:4] = 5 through CR8 (11.8.6)
    mov eax, [rbx + 0x80]
    cmp eax, 0x50
    verdict "cr8 is tpr"
    mov dword [rbx + 0x300], 0x40000 | V_IPI
    nop
    cmp dword [n_ipi], 2
    verdict "cr8 holds"
    xor eax, eax
    mov cr8, rax
    nop
    nop
    cmp dword [n_ipi], 3
    verdict "cr8 lowered"
    mov dword [rbx + 0x300], 0x40400    ; NMI, SELF shorthand (11.6.1)
    mov eax, [rbx + 0x30]           ; an exit after the handler's IRET (SVM delivers then)
    cmp dword [n_nmi], 2            ; the handler sent a second one
    verdict "nmi self ipi"
    cmp byte [nmi_nested], 0        ; ... which waited for its IRET (SDM 3A 6.7.1)
    verdict "nmi blocked until iret"

    mov dword [rbx + 0x3E0], 0xB    ; divide by 1
    mov dword [rbx + 0x320], V_TIMER    ; one-shot
    mov dword [n_timer], 0
    rdtsc
    mov [t0], eax
    mov [t0 + 4], edx
    mov eax, MARK                   ; the VMM's time from here is the test's to subtract
    mov dx, REPORT
    out dx, eax
    mov dword [rbx + 0x380], ONESHOT
    wait_for n_timer, 1
    mov rax, [t_last]
    sub rax, [t0]
    mov dx, REPORT
    out dx, eax                     ; TSC cycles of ONESHOT bus ticks
    mov eax, [rbx + 0x390]
    test eax, eax                   ; the current count stays 0
    verdict "one-shot"

    mov dword [n_timer], 0
    mov dword [rbx + 0x320], 0x20000 | V_TIMER  ; periodic
    rdtsc                           ; from the arming, as the one-shot: the
    mov [t0], eax                   ; tenth interrupt is never early, however
    mov [t0 + 4], edx               ; late the first one came
    mov eax, MARK
    mov dx, REPORT
    out dx, eax
    mov dword [rbx + 0x380], PERIOD
    wait_for n_timer, 10
    mov rax, [t_last]
    sub rax, [t0]
    mov dx, REPORT
    out dx, eax                     ; TSC cycles of 10 periods
    mov dword [rbx + 0x380], 0      ; stopped
    cmp dword [n_timer], 10
    verdict "periodic"

    mov dword [n_timer], 0
    mov dword [rbx + 0x320], 0x40000 | V_TIMER  ; TSC-deadline (11.5.4.1)
    rdtsc
    shl rdx, 32
    or rax, rdx
    add rax, 2000000
    mov [t0], rax
    mov rdx, rax
    shr rdx, 32
    mov ecx, 0x6E0
    wrmsr
    wait_for n_timer, 1
    mov rax, [t_last]
    cmp rax, [t0]
    jb .deadline                    ; never early
    mov ecx, 0x6E0
    rdmsr
    or eax, edx                     ; disarmed once it fired
.deadline:
    verdict "tsc deadline"
    mov dword [rbx + 0x320], 0x10000 | V_TIMER

    mov r12, IOAPIC                 ; (print writes RSI)
    mov dword [r12], 1              ; IOAPICVER (82093AA 3.2.2)
    mov eax, [r12 + 0x10]
    cmp eax, 0x170011
    verdict "ioapic version"
    mov dword [r12], 0x40           ; past the 24 entries
    mov eax, [r12 + 0x10]
    cmp eax, -1
    verdict "ioapic bad index"
    mov dword [r12], 0x15           ; pin 2: destination APIC 0
    mov dword [r12 + 0x10], 0
    mov dword [r12], 0x14           ; fixed, edge, unmasked
    mov dword [r12 + 0x10], V_PIT
    mov al, 0x34                    ; PIT channel 0, mode 2, 10 ms
    out 0x43, al
    mov al, 11932 & 0xFF
    out 0x40, al
    mov al, 11932 >> 8
    out 0x40, al
    wait_for n_pit, 3
    mov dword [r12], 0x14
    mov dword [r12 + 0x10], 0x10000 | V_PIT    ; masked
    mov al, 0x30                    ; mode 0, no count: stopped
    out 0x43, al
    cmp dword [n_pit], 3
    verdict "pit via ioapic pin 2"

    mov ecx, 0x1B
    rdmsr
    or eax, 1 << 10                 ; EXTD: xAPIC -> x2APIC (11.12.5)
    wrmsr
    mov byte [x2], 1
    mov ecx, 0x803
    rdmsr
    cmp eax, 0x50014
    verdict "x2apic version"
    mov eax, [rbx + 0x30]
    cmp eax, -1                     ; no xAPIC page in x2APIC mode
    verdict "xapic page gone"
    mov ecx, 0x83F                  ; SELF IPI
    mov eax, V_IPI
    xor edx, edx
    wrmsr
    nop
    cmp dword [n_ipi], 4
    verdict "x2apic self ipi"
    mov ecx, 0x830                  ; ICR, destination 0 = this x2APIC ID
    mov eax, V_IPI
    xor edx, edx
    wrmsr
    nop
    cmp dword [n_ipi], 5
    verdict "x2apic icr"
    mov ecx, 0x80B
    faults 13, rdmsr                ; EOI is write-only
    verdict "x2apic eoi read #gp"
    mov ecx, 0x1B
    mov eax, 0xFEE00900
    xor edx, edx
    faults 13, wrmsr                ; x2APIC -> xAPIC
    verdict "x2apic to xapic #gp"

    mov ecx, 0xFE                   ; MTRRcap: 8 variable, fixed, WC
    rdmsr
    cmp eax, 0x508
    verdict "mtrrcap"
    mov ecx, 0x2FF
    mov eax, 0xC06
    xor edx, edx
    wrmsr
    rdmsr
    cmp eax, 0xC06
    verdict "mtrr def type"
    mov ecx, 0x277
    rdmsr
    cmp eax, 0x00070406
    jne .pat
    cmp edx, 0x00070406
.pat:
    verdict "pat"
    mov eax, 0x02                   ; type 2 is reserved
    xor edx, edx
    faults 13, wrmsr
    verdict "pat #gp"
    mov ecx, 0x8B
    faults 13, rdmsr
    setz al
    cmp al, 0
    verdict "ucode rev"
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov r8, rax
    mov ecx, 0x10
    rdmsr
    shl rdx, 32
    or rax, rdx
    cmp rax, r8
    setb al
    cmp al, 0
    verdict "tsc msr"
    mov ecx, 0xC0000103
    mov eax, 0x1234
    xor edx, edx
    wrmsr
    rdmsr
    cmp eax, 0x1234
    verdict "tsc_aux"
    mov eax, 0x80000001
    cpuid
    bt edx, 27
    jc .rdtscp
    print "rdtscp absent", 10
    jmp .vendor
.rdtscp:
    rdtscp
    cmp ecx, 0x1234
    verdict "rdtscp"
.vendor:
    xor eax, eax
    cpuid
    cmp ebx, 0x68747541             ; "Auth"enticAMD
    je .amd
    mov ecx, 0x1A0
    rdmsr
    cmp eax, 0x1800                 ; BTS and PEBS unavailable
    verdict "misc enable"
    mov ecx, 0x186
    mov eax, 0x430076
    xor edx, edx
    wrmsr
    rdmsr
    test eax, eax
    verdict "perfevtsel0"
    mov eax, 0xA
    cpuid
    test eax, eax                   ; architectural PMU version 0
    verdict "cpuid pmu"
    jmp finish
.amd:
    mov ecx, 0xC0010000
    mov eax, 0x430076
    xor edx, edx
    wrmsr
    rdmsr
    test eax, eax
    verdict "perf ctl0"
    mov ecx, 0xC0010007
    rdmsr
    test eax, eax
    verdict "perf ctr3"
    mov ecx, 0xC0011029             ; DE_CFG: LFENCE serializing, as Linux sets it
    mov eax, 2
    xor edx, edx
    wrmsr
    rdmsr
    cmp eax, 2
    verdict "de_cfg"
    mov ecx, 0xC0010015
    faults 13, rdmsr
    setz al
    cmp al, 0
    verdict "hwcr"

finish:
    print "apic: bye", 10
    xor eax, eax
    out 0xF4, al
    jmp $

PUTS

; set_gate: 64-bit interrupt gate for vector edi, handler rax (APM2 4.8.4).
set_gate:
    shl edi, 4
    add rdi, idt
    mov [rdi], ax
    mov word [rdi + 2], 0x08
    mov word [rdi + 4], 0x8E00
    shr rax, 16
    mov [rdi + 6], ax
    shr rax, 16
    mov [rdi + 8], eax
    mov dword [rdi + 12], 0
    ret

; eoi: through the page, or MSR 0x80B in x2APIC mode. Clobbers nothing.
eoi:
    cmp byte [x2], 0
    jne .msr
    push rax
    mov rax, APIC                   ; not a disp32: it would sign-extend
    mov dword [rax + 0xB0], 0
    pop rax
    ret
.msr:
    push rax
    push rcx
    push rdx
    mov ecx, 0x80B
    xor eax, eax
    xor edx, edx
    wrmsr
    pop rdx
    pop rcx
    pop rax
    ret

gp_handler:                         ; error code, then RIP of the instruction
    push rax
    mov dword [last_vec], 13
    mov eax, [skip]
    add [rsp + 16], rax
    pop rax
    add rsp, 8
    iretq
irq_timer:                          ; the EOI first: its exit is inside the measured time
    push rax
    push rdx
    call eoi
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov [t_last], rax
    inc dword [n_timer]
    pop rdx
    pop rax
    iretq
irq_ipi:
    inc dword [n_ipi]
    call eoi
    iretq
irq_pit:
    inc dword [n_pit]
    call eoi
    iretq
irq_spurious:                       ; no EOI for the spurious vector (11.9)
    iretq
nmi_handler:                        ; no EOI for an NMI
    push rax
    cmp byte [in_nmi], 0
    je .first
    mov byte [nmi_nested], 1
.first:
    mov byte [in_nmi], 1
    inc dword [n_nmi]
    cmp dword [n_nmi], 1
    jne .out
    mov rax, APIC
    mov dword [rax + 0x300], 0x40400    ; a second NMI while this one runs
    mov eax, [rax + 0x30]           ; an exit: the VMM could deliver it here, must not
.out:
    mov byte [in_nmi], 0
    pop rax
    iretq

last_vec: dd 0
skip: dd 0
n_ipi: dd 0
n_timer: dd 0
n_pit: dd 0
n_nmi: dd 0
in_nmi: db 0
nmi_nested: db 0
x2: db 0
align 8
t0: dq 0
t_last: dq 0
idtr:
    dw 256 * 16 - 1
    dq idt
align 16
idt: times 256 * 16 db 0
stack: times 1024 db 0
stack_top:
