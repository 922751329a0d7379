; 64-bit long-mode test guest: CPUID signature, VMMCALL, an emulated MSR,
; IN from a VMM port, a not-yet-mapped page, XSETBV, two injected
; interrupts (direct and through the interrupt window), then HLT.
; Guest code: starts at LOAD in 64-bit mode with the flat GDT (CS 0x08) and
; identity page tables that vCPU setup('long') builds.
bits 64
%include "common.inc"
org LOAD
%define SCRATCH 0x200000            ; never written by the loader

start:
    mov rsp, stack_top
    print "long: hello", 10

    mov eax, 0x40000000             ; hypervisor leaf: our signature
    cpuid
    cmp ebx, SIG_EBX
    jne .sig
    cmp ecx, SIG_ECX
    jne .sig
    cmp edx, SIG_EDX
.sig:
    verdict "cpuid"
    mov eax, 1                      ; hypervisor-present bit, no SVM/VMX
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
    mov r8d, 5
    mov r9d, 6
    vmmcall
    cmp rax, 21
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

    mov rax, gp_handler             ; an MSR the VMM does not emulate: #GP(0)
    mov rdi, idt + 13 * 16
    call set_gate
    lidt [idtr]
    mov ecx, TEST_MSR + 1
    rdmsr                           ; the #GP handler steps over it
    cmp byte [got_gp], 1
    verdict "msr #gp"

    mov dx, TEST_PORT
    in eax, dx
    cmp eax, TEST_PORT_VALUE
    jne .in
    mov eax, 0x11223344
    in al, dx                       ; only AL changes
    cmp eax, 0x112233A5
.in:
    verdict "in"

    mov byte [SCRATCH + 0x10], 0x5A ; nested page fault, mapped, retried
    cmp byte [SCRATCH + 0x10], 0x5A
    verdict "page"

    mov eax, 1                      ; XSETBV (handled inside the vCPU)
    cpuid                           ; needs XSAVE: Bochs ryzen, not qemu64
    bt ecx, 26
    jc .xsave
    print "xsetbv skipped", 10
    jmp .xsave_done
.xsave:
    mov rax, cr4
    bts rax, 18                     ; CR4.OSXSAVE
    mov cr4, rax
    xor ecx, ecx
    mov eax, 3                      ; x87 | SSE
    xor edx, edx
    xsetbv
    xor ecx, ecx
    xgetbv
    cmp eax, 3
    verdict "xsetbv"
.xsave_done:

    mov rax, irq_direct
    mov rdi, idt + IRQ_DIRECT * 16
    call set_gate
    mov rax, irq_window
    mov rdi, idt + IRQ_WINDOW * 16
    call set_gate
    sti
    hcall HC_INJECT, IRQ_DIRECT     ; IF = 1: delivered on the next entry
    cmp byte [got_direct], 1
    verdict "irq"
    cli
    hcall HC_INJECT, IRQ_WINDOW     ; IF = 0: waits for the window
    cmp byte [got_window], 0
    verdict "irq held"
    sti
    nop                             ; the STI shadow ends here
    cmp byte [got_window], 1
    verdict "irq window"

    print "long: bye", 10
    hlt
    jmp $

PUTS

; set_gate: 64-bit interrupt gate at [rdi] for handler rax (APM2 4.8.4).
set_gate:
    mov [rdi], ax
    mov word [rdi + 2], 0x08
    mov word [rdi + 4], 0x8E00
    shr rax, 16
    mov [rdi + 6], ax
    shr rax, 16
    mov [rdi + 8], eax
    mov dword [rdi + 12], 0
    ret

gp_handler:                         ; error code, then RIP of the RDMSR
    mov byte [got_gp], 1
    add qword [rsp + 8], 2          ; past the 2-byte RDMSR
    add rsp, 8                      ; drop the error code
    iretq
irq_direct:
    mov byte [got_direct], 1
    iretq
irq_window:
    mov byte [got_window], 1
    iretq

got_gp: db 0
got_direct: db 0
got_window: db 0
align 8
idtr:
    dw (IRQ_WINDOW + 1) * 16 - 1
    dq idt
align 16
idt: times (IRQ_WINDOW + 1) * 16 db 0
stack: times 512 db 0
stack_top:
