; A guest that triple-faults: #UD with no IDT (IDTR limit 0 after
; setup('protected')) escalates to #DF and then shutdown (APM2 8.2.9).
; Guest code: 32-bit protected mode.
bits 32
%include "common.inc"
org LOAD
    ud2
