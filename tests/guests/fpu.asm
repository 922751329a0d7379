; 64-bit test guest for the guest's x87/SSE state across exits (port/fpu.h):
; fills XMM0-XMM15 with distinct patterns, sets MXCSR to round toward zero
; and pushes a value on the x87 stack, then exits 64 times (IN from
; TEST_PORT, whose host handler does floating-point work of its own) and
; checks that every register, MXCSR and the x87 value are as it left them.
; Prints "sse ok" / "mxcsr ok" / "x87 ok" (or BAD). Guest code: starts at
; LOAD in 64-bit mode (vCPU setup('long')); needs CR4.OSFXSR, set here.
bits 64
%include "common.inc"
org LOAD
%define MXCSR_RZ 0x7F80             ; all exceptions masked, RC = 11b (toward zero)

start:
    mov rsp, LOAD                   ; a stack below the code (puts is called)
    mov rax, cr4
    or eax, 1 << 9                  ; CR4.OSFXSR: SSE instructions allowed (SDM 3A 2.5)
    mov cr4, rax
    mov rax, cr0
    and eax, ~(1 << 2)              ; CR0.EM = 0
    or eax, 1 << 1                  ; CR0.MP = 1
    mov cr0, rax
    fninit
    fld qword [pi_ish]              ; ST0 = a value the host never holds
    ldmxcsr [mxcsr_rz]
%assign i 0
%rep 16
    movdqu xmm %+ i, [patterns + i * 16]
%assign i i + 1
%endrep
    mov ecx, 64
.exits:
    mov dx, TEST_PORT
    in al, dx                       ; the host runs Python (floats) and comes back
    loop .exits
    ; Every XMM register against its pattern: PCMPEQB sets the bytes that
    ; are equal to all ones, PMOVMSKB gathers their top bits; the AND of all
    ; sixteen masks is 0xFFFF only if every byte of every register matched.
    mov ebx, 0xFFFF
%assign i 0
%rep 16
    pcmpeqb xmm %+ i, [patterns + i * 16]
    pmovmskb eax, xmm %+ i
    and ebx, eax
%assign i i + 1
%endrep
    cmp ebx, 0xFFFF
    verdict "sse"
    stmxcsr [scratch]
    cmp dword [scratch], MXCSR_RZ
    verdict "mxcsr"
    fstp qword [scratch]
    mov rax, [scratch]
    cmp rax, [pi_ish]
    verdict "x87"
    hlt
    jmp $

    PUTS

align 16
patterns:
%assign i 0
%rep 16
    dq 0x0123456789ABCDEF ^ (i * 0x1111111111111111), 0xFEDCBA9876543210 ^ (i * 0x0101010101010101)
%assign i i + 1
%endrep
pi_ish:   dq 0x400921FB54442D18     ; 3.14159265358979 as a double
mxcsr_rz: dd MXCSR_RZ
align 8
scratch:  dq 0
