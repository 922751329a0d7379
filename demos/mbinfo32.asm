; An ELF32 multiboot guest that reads what the loader gave it (Multiboot
; 0.6.96, 3.3): prints its command line and memory map over COM1, checks
; the map against mem_lower/mem_upper, and ends the VM through port 0xF4
; with the number of failed checks. 32-bit protected mode, paging off.

bits 32
%include "lib.inc"
MB_FLAGS equ 1 << 1                  ; memory information required

section .multiboot
align 4
    dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

section .text
global start
start:
    mov esp, stack_top
    mov [info], ebx
    cmp eax, MB_LOADER_MAGIC
    check "started by a multiboot loader"
    mov eax, [ebx]                       ; flags: mem (0), cmdline (2), mmap (6)
    and eax, (1 << 0) | (1 << 2) | (1 << 6)
    cmp eax, (1 << 0) | (1 << 2) | (1 << 6)
    check "info has memory sizes, command line and memory map"
    print "cmdline: "
    mov esi, [ebx + 16]
    call puts
    print 13, 10

    ; Walk the map: print each entry; add up available RAM above 1 MiB.
    mov esi, [ebx + 48]                  ; mmap_addr
    mov edi, esi
    add edi, [ebx + 44]                  ; + mmap_length
    xor ecx, ecx                         ; KiB available at or above 1 MiB
.entry:
    cmp esi, edi
    jae .done
    print "mmap "
    mov eax, [esi + 4]                   ; base (low 32 bits)
    call put_hex
    print " "
    mov eax, [esi + 12]                  ; length (low 32 bits)
    call put_hex
    print " type "
    mov eax, [esi + 20]
    call put_hex
    print 13, 10
    cmp dword [esi + 20], 1
    jne .next
    cmp dword [esi + 4], 0x100000
    jb .next
    mov eax, [esi + 12]
    shr eax, 10
    add ecx, eax
.next:
    add esi, [esi]                       ; size does not count itself
    add esi, 4
    jmp .entry
.done:
    mov ebx, [info]
    cmp ecx, [ebx + 8]
    check "available RAM above 1 MiB equals mem_upper"
    cmp dword [ebx + 4], 639
    check "mem_lower is 639 KiB"
    jmp finish

lib

section .data
failures: dd 0
info: dd 0

section .bss
alignb 16
resb 4096
stack_top:
