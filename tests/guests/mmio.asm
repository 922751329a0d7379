; Reads guest-physical memory above its RAM, then writes next to it. With
; nothing mapped there the read's nested page fault is not the VMM's to fix,
; so vm.run() stops on it; with a read-only vm.map() the write faults.
; Guest code: 64-bit, with setup('long')'s identity map of the first GiB.
bits 64
%include "common.inc"
org LOAD
%define HOLE 0x3000000              ; 48 MiB: above the tests' 16 MiB of RAM
    mov eax, [HOLE]
    mov [HOLE + 4], eax
    hlt
