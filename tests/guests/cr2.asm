; 64-bit test guest for the guest's CR2 across exits: sets CR2 to a marker,
; exits (OUT to TEST_PORT) while the host takes page faults of its own, and
; reads CR2 back; then once more after the host wrote it. The host reads
; R8 (what CR2 read after the first exit) and R9 (after the second).
; Guest code: starts at LOAD in 64-bit mode (vCPU setup('long')).
bits 64
%include "common.inc"
org LOAD
%define MARKER 0x00007E57C2C2B000

start:
    mov rax, MARKER
    mov cr2, rax
    mov dx, TEST_PORT
    out dx, al                      ; the host faults on page 0, then resumes
    mov r8, cr2
    out dx, al                      ; the host sets the guest's CR2 here
    mov r9, cr2
    hlt
    jmp $
