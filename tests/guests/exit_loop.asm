; Benchmark guest for bench/exits.py: one kind of VM exit in a loop. The host
; sets RBX = kind (EXIT_* below) and R12 = iterations before the first run;
; the guest halts once first (so the host sees the vCPU entered and can take
; over the loop), runs R12 exits of that kind, then halts again.
; Guest code: 64-bit, as setup('long') leaves it (identity map of guest RAM).
bits 64
%include "common.inc"
org LOAD

%define EXIT_CPUID    0             ; CPUID leaf 0x40000000 (2 bytes)
%define EXIT_OUT      1             ; OUT DX, AL to BENCH_PORT (1 byte)
%define EXIT_IN       2             ; IN AL, DX from BENCH_PORT (1 byte)
%define EXIT_VMMCALL  3             ; HC_ADD hypercall, AMD (3 bytes)
%define EXIT_VMCALL   4             ; HC_ADD hypercall, Intel (3 bytes)
%define EXIT_RDMSR    5             ; RDMSR TEST_MSR (2 bytes)
%define EXIT_WRMSR    6             ; WRMSR TEST_MSR (2 bytes)
%define EXIT_NPF      7             ; MOV AL, [RDI] (8A 07, 2 bytes) on a
                                    ; fresh page each time from NPF_BASE
%define BENCH_PORT    0x610
%define NPF_BASE      0x1000000     ; 16 MiB: above the guest's code and tables

start:
    hlt                             ; the host takes over from here
    mov edx, BENCH_PORT
    mov ecx, TEST_MSR
    mov edi, NPF_BASE
    cmp ebx, EXIT_CPUID
    je .cpuid
    cmp ebx, EXIT_OUT
    je .out
    cmp ebx, EXIT_IN
    je .in
    cmp ebx, EXIT_VMMCALL
    je .vmmcall
    cmp ebx, EXIT_VMCALL
    je .vmcall
    cmp ebx, EXIT_RDMSR
    je .rdmsr
    cmp ebx, EXIT_WRMSR
    je .wrmsr
    cmp ebx, EXIT_NPF
    je .npf
    ud2                             ; an unknown kind: a fault the host sees

.cpuid:
    mov eax, 0x40000000
    xor ecx, ecx
    cpuid
    dec r12
    jnz .cpuid
    jmp .done
.out:
    out dx, al
    dec r12
    jnz .out
    jmp .done
.in:
    in al, dx
    dec r12
    jnz .in
    jmp .done
.vmmcall:
    mov eax, HC_ADD                 ; RDI, RSI, RDX, RCX, R8, R9 are the arguments
    vmmcall
    dec r12
    jnz .vmmcall
    jmp .done
.vmcall:
    mov eax, HC_ADD
    vmcall
    dec r12
    jnz .vmcall
    jmp .done
.rdmsr:
    mov ecx, TEST_MSR
    rdmsr
    dec r12
    jnz .rdmsr
    jmp .done
.wrmsr:
    mov ecx, TEST_MSR
    xor eax, eax
    xor edx, edx
    wrmsr
    dec r12
    jnz .wrmsr
    jmp .done
.npf:
    db 0x8A, 0x07                   ; mov al, [rdi]: fixed 2 bytes for the host
    add rdi, 0x1000
    dec r12
    jnz .npf
.done:
    hlt
    jmp .done
