; Benchmark guest: CPUID leaf 0x40000000 in a loop of ITERATIONS (R12),
; then HLT; bench/svm_cpuid.py times it with CPUID handled in Python and
; by the native fast path. Guest code: 64-bit, as setup('long') leaves it.
bits 64
%include "common.inc"
org LOAD
%define ITERATIONS 10000

start:
    mov r12d, ITERATIONS
.loop:
    mov eax, 0x40000000
    xor ecx, ecx
    cpuid
    dec r12d
    jnz .loop
    hlt
    jmp start
