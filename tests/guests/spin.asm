; A guest that never exits on its own: `jmp $`, for physical-interrupt
; exits. Guest code for any mode (EB FE is the same in 16, 32 and 64 bits).
bits 16
%include "common.inc"
org 0
    jmp $
