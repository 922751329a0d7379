; 64-bit test guest for the natives' CPUID fast path (port/modsvm.c): CPUID
; in a page the guest maps itself, then the same linear page remapped to
; another frame whose bytes differ (a stale translation steps wrongly), and
; CPUID in an STI shadow followed by a nested page fault, at which the host
; reads the interrupt shadow (it must have ended with the CPUID). Each CPUID
; asks leaf 0x40000000: its EBX is the signature.
; Guest code: starts at LOAD in 64-bit mode with the identity page tables
; (2 MiB pages, 1 GiB) that vCPU setup('long') builds.
bits 64
%include "common.inc"
org LOAD
%define WINDOW      0x40000000      ; linear page this guest maps: PDPT entry 1
%define PTE_PRW     3               ; present, writable (APM2 5.4)
%define FRESH       0x800000        ; guest RAM no one has touched: not backed yet

start:
    mov rsp, stack_top
    mov rax, cr3                    ; PML4 -> PDPT (setup's tables)
    mov rax, [rax]
    and rax, ~0xFFF
    mov qword [rax + 8], pd + PTE_PRW
    mov qword [pd], pt + PTE_PRW
    mov qword [pt], page1 + PTE_PRW
    mov rdi, WINDOW                 ; page1+0: plain CPUID
    call probe
    verdict "window cpuid"

    mov qword [pt], page2 + PTE_PRW ; the same linear page, another frame
    invlpg [WINDOW]
    mov rdi, WINDOW                 ; page2+0: a 4-byte CPUID where page1 has a 2-byte one
    call probe
    verdict "remapped prefixed cpuid"
    mov rdi, WINDOW + 0x10          ; page2+0x10: plain CPUID where page1 has none
    call probe
    verdict "remapped cpuid"

    cli
    mov eax, 0x40000000
    xor ecx, ecx
    sti
    cpuid                           ; in the STI shadow, which ends with it (APM2 15.21.5)
    mov byte [FRESH], 1             ; the host looks at the shadow at this exit
    print "shadow probe done", 10
    hlt
    jmp $

; probe: CPUID leaf 0x40000000 at the code at rdi; ZF = its EBX is ours.
probe:
    mov eax, 0x40000000
    xor ecx, ecx
    xor ebx, ebx
    call rdi
    cmp ebx, SIG_EBX
    ret

PUTS

stack: times 512 db 0
stack_top:

align 4096
page1:                              ; +0: CPUID (2 bytes), +0x10: a 4-byte one
    cpuid
    ret
    times 0x10 - ($ - page1) db 0xCC
    db 0x66, 0x66
    cpuid
    ret
align 4096
page2:                              ; the reverse: a stale translation of +0
    db 0x66, 0x66                   ; steps to +2 and runs CPUID twice
    cpuid
    ret
    times 0x10 - ($ - page2) db 0xCC
    cpuid
    ret
align 4096
pd: times 4096 db 0
pt: times 4096 db 0
