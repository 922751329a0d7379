; 32-bit protected-mode test guest (paging off): CPUID signature, VMMCALL,
; an emulated MSR, IN from a VMM port, a not-yet-mapped page, two injected
; interrupts (direct and through the interrupt window), then HLT.
; Guest code: starts at LOAD in 32-bit mode with the flat GDT (CS 0x08,
; data 0x10) that vCPU setup('protected') builds.
bits 32
%include "common.inc"
org LOAD
%define SCRATCH 0x200000            ; never written by the loader

start:
    mov esp, stack_top
    print "protected: hello", 10

    mov eax, 0x40000000
    cpuid
    cmp ebx, SIG_EBX
    jne .sig
    cmp ecx, SIG_ECX
    jne .sig
    cmp edx, SIG_EDX
.sig:
    verdict "cpuid"
    mov eax, 1
    cpuid
    bt ecx, 31
    setnc al
    test al, al
    verdict "cpuid hv bit"

    mov eax, HC_ADD
    mov edi, 1
    mov esi, 2
    mov edx, 3
    mov ecx, 4
    vmmcall
    cmp eax, 10                     ; R8/R9 are zero outside 64-bit mode
    verdict "vmmcall"

    mov ecx, TEST_MSR
    mov eax, 0x9ABCDEF0
    mov edx, 0x12345678
    wrmsr
    xor eax, eax
    xor edx, edx
    rdmsr
    cmp eax, 0x9ABCDEF0
    jne .msr
    cmp edx, 0x12345678
.msr:
    verdict "msr"

    mov dx, TEST_PORT
    in eax, dx
    cmp eax, TEST_PORT_VALUE
    jne .in
    mov eax, 0x11223344
    in ax, dx                       ; only AX changes
    cmp eax, 0x1122A5A5
.in:
    verdict "in"

    mov byte [SCRATCH + 0x20], 0x5A
    cmp byte [SCRATCH + 0x20], 0x5A
    verdict "page"

    lidt [idtr]
    mov eax, irq_direct
    mov edi, idt + IRQ_DIRECT * 8
    call set_gate
    mov eax, irq_window
    mov edi, idt + IRQ_WINDOW * 8
    call set_gate
    sti
    hcall HC_INJECT, IRQ_DIRECT
    cmp byte [got_direct], 1
    verdict "irq"
    cli
    hcall HC_INJECT, IRQ_WINDOW
    cmp byte [got_window], 0
    verdict "irq held"
    sti
    nop
    cmp byte [got_window], 1
    verdict "irq window"

    print "protected: bye", 10
    hlt
    jmp $

PUTS

; set_gate: 32-bit interrupt gate at [edi] for handler eax (APM2 4.8.3).
set_gate:
    mov [edi], ax
    mov word [edi + 2], 0x08
    mov word [edi + 4], 0x8E00
    shr eax, 16
    mov [edi + 6], ax
    ret

irq_direct:
    mov byte [got_direct], 1
    iretd
irq_window:
    mov byte [got_window], 1
    iretd

got_direct: db 0
got_window: db 0
align 8
idtr:
    dw (IRQ_WINDOW + 1) * 8 - 1
    dd idt
align 8
idt: times (IRQ_WINDOW + 1) * 8 db 0
stack: times 512 db 0
stack_top:
