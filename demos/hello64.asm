; An ELF64 multiboot guest: starts in 32-bit protected mode (as every
; multiboot kernel does), builds identity page tables for the first 2 MiB,
; enters 64-bit long mode, prints from 64-bit code and ends the VM through
; port 0xF4 with status 0 (SDM 3A 10.8.5 for the mode switch).

bits 32
%include "lib.inc"
MB_FLAGS equ 0

section .multiboot
align 4
    dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

section .text
global start
start:
    mov esp, stack_top
    mov ebp, eax                         ; checked once 64-bit output works
    mov dword [pml4], pdpt + 3           ; present, writable
    mov dword [pdpt], pd + 3
    mov dword [pd], 0x83                 ; 2 MiB page at 0, present, writable
    lgdt [gdt_ptr]
    mov eax, cr4
    or eax, 1 << 5                       ; PAE
    mov cr4, eax
    mov eax, pml4
    mov cr3, eax
    mov ecx, 0xC0000080                  ; EFER.LME
    rdmsr
    or eax, 1 << 8
    wrmsr
    mov eax, cr0
    or eax, 1 << 31                      ; paging on: long mode active
    mov cr0, eax
    jmp 0x08:long_mode

bits 64
long_mode:
    mov ax, 0x10
    mov ds, ax
    mov ss, ax
    cmp ebp, MB_LOADER_MAGIC
    check "started by a multiboot loader"
    mov ecx, 0xC0000080
    rdmsr
    bt eax, 10                           ; EFER.LMA
    setc al
    cmp al, 1
    check "running in 64-bit long mode"
    mov rax, 0x123456789
    add rax, rax
    mov rbx, 0x2468ACF12
    cmp rax, rbx
    check "64-bit arithmetic"
    jmp finish

lib                                      ; 64-bit routines

section .data
align 8
gdt:
    dq 0
    dq 0x00AF9A000000FFFF                ; 0x08: 64-bit code
    dq 0x00CF92000000FFFF                ; 0x10: data
gdt_ptr:
    dw 3 * 8 - 1
    dd gdt
failures: dd 0

section .bss
alignb 4096
pml4: resb 4096
pdpt: resb 4096
pd: resb 4096
alignb 16
resb 4096
stack_top:
