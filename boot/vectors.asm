; Interrupt entry stubs for vectors 0-47 (CPU exceptions and the remapped
; legacy PIC) and the path that turns a CPU fault into a Python exception.
; Runs in 64-bit ring 0. Each stub pushes a dummy error code where the CPU
; pushes none (SDM 3A 6.13, Table 6-1), then its vector, then trap_common
; saves every GPR in opcode order and the x87/SSE state, and calls
; void trap_dispatch(struct trap_frame *frame).

extern trap_dispatch, cpu_fault_raise
global trap_vectors, fault_unwind_entry

%define NUM_VECTORS 48

section .text
bits 64

%macro STUB 1
vector_%1:
%if %1 == 8 || (%1 >= 10 && %1 <= 14) || %1 == 17 || %1 == 21 || %1 == 29 || %1 == 30
%else
    push 0                      ; no CPU error code for this vector
%endif
    push %1
    jmp trap_common
%endmacro

%assign i 0
%rep NUM_VECTORS
STUB i
%assign i i + 1
%endrep

; Stack on entry: vector, error code, RIP, CS, RFLAGS, RSP, SS (SDM 3A 6.14.2).
trap_common:
    push r15
    push r14
    push r13
    push r12
    push r11
    push r10
    push r9
    push r8
    push rdi
    push rsi
    push rbp
    push qword 0                ; RSP slot; the real one is in the iret frame
    push rbx
    push rdx
    push rcx
    push rax
    mov rbp, rsp                ; frame pointer (callee-saved across the call)
    sub rsp, 512
    and rsp, ~15                ; FXSAVE area must be 16-byte aligned
    fxsave [rsp]                ; C handlers may use SSE registers
    cld
    mov rdi, rbp
    call trap_dispatch
    fxrstor [rsp]
    mov rsp, rbp
    pop rax
    pop rcx
    pop rdx
    pop rbx
    add rsp, 8
    pop rbp
    pop rsi
    pop rdi
    pop r8
    pop r9
    pop r10
    pop r11
    pop r12
    pop r13
    pop r14
    pop r15
    add rsp, 16                 ; vector and error code
    iretq

; trap_dispatch redirects a recoverable fault here: RSP is the faulting
; code's stack, aligned to 16 below its red zone-free top. cpu_fault_raise
; raises hw.CPUFault through MicroPython's nlr and never returns.
fault_unwind_entry:
    call cpu_fault_raise
    ud2

section .rodata
align 8
; Entry addresses, indexed by vector, for port/cpu_tables.c to build the IDT.
trap_vectors:
%assign i 0
%rep NUM_VECTORS
    dq vector_ %+ i
%assign i i + 1
%endrep
