; Reads guest-physical memory above its RAM, then writes next to it. With
; nothing mapped and no device registered there the read is MMIO nobody
; answers, so vm.run() stops on it (UnhandledMmio); with a read-only
; vm.map() the write's nested page fault (present, 'wp') is not MMIO.
; Guest code: 64-bit, with setup('long')'s identity map of the first GiB.
bits 64
%include "common.inc"
org LOAD
%define HOLE 0x3000000              ; 48 MiB: above the tests' 16 MiB of RAM
    mov eax, [HOLE]
    mov [HOLE + 4], eax
    hlt
