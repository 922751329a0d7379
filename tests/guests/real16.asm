; Real-mode test guest: CPUID signature, VMMCALL, an emulated MSR, IN from
; a VMM port, a not-yet-mapped page, two injected interrupts (direct and
; through the interrupt window) through its IVT, then HLT.
; Guest code: starts at CS:IP = (LOAD >> 4):0 in real mode, as vCPU
; setup('real') leaves it; the IVT is its own, found through IDTR.
bits 16
%include "common.inc"
org 0
%define SCRATCH_SEG 0x8000          ; physical 0x80000, never written by the loader

start:
    mov ax, cs
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, stack_top
    print "real: hello", 10

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
    cmp eax, 10
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
    in al, dx
    cmp eax, 0x112233A5
.in:
    verdict "in"

    push es
    mov ax, SCRATCH_SEG
    mov es, ax
    mov byte [es:0x30], 0x5A
    cmp byte [es:0x30], 0x5A
    pop es
    verdict "page"

    lidt [ivtr]                     ; the IVT lives in this image
    mov word [ivt + IRQ_DIRECT * 4], irq_direct
    mov [ivt + IRQ_DIRECT * 4 + 2], cs
    mov word [ivt + IRQ_WINDOW * 4], irq_window
    mov [ivt + IRQ_WINDOW * 4 + 2], cs
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

    print "real: bye", 10
    hlt
    jmp $

PUTS

irq_direct:
    mov byte [cs:got_direct], 1
    iret
irq_window:
    mov byte [cs:got_window], 1
    iret

got_direct: db 0
got_window: db 0
align 4
ivtr:
    dw (IRQ_WINDOW + 1) * 4 - 1
    dd LOAD + ivt
align 4
ivt: times (IRQ_WINDOW + 1) * 4 db 0
stack: times 512 db 0
stack_top:
