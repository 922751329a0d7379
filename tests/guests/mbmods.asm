; A multiboot kernel linked low (a.out-kludge fields, flat at 0x8000, where the
; loader once put its information structure) for tests/target/multiboot_cases.py:
; checks that the info and every boot module lie outside its own image (a canary
; at its end intact), prints its command line, mods_count and, per module, its
; length, FNV-1a hash of its bytes, page alignment and string (Multiboot 0.6.96,
; 3.3), then ends the VM through port 0xF4 with the number of failed checks.
; Guest code: 32-bit protected mode, paging off, as a multiboot loader starts it.
bits 32
%include "common.inc"
KLOAD equ 0x8000
org KLOAD
MB_MAGIC equ 0x1BADB002
MB_FLAGS equ (1 << 0) | (1 << 16)       ; modules page-aligned; address fields follow
header:
    dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
    dd header, KLOAD, load_end, bss_end, start

MB_INFO_MODS equ 1 << 3
FNV_BASIS equ 0x811C9DC5                ; FNV-1a, 32-bit
FNV_PRIME equ 0x01000193

; check "what" -- "what ok" if ZF is set, else "what BAD", counted in [failures]
%macro check 1
    jz %%ok
    inc dword [failures]
%%ok:
    verdict %1
%endmacro

start:
    mov esp, stack_top
    mov [info], ebx
    cmp eax, 0x2BADB002
    check "started by a multiboot loader"
    mov eax, ebx
    call outside_kernel
    check "info outside the kernel"
    mov ebx, [info]
    mov eax, [ebx]
    and eax, MB_INFO_MODS
    cmp eax, MB_INFO_MODS
    check "flags has mods"
    print "cmdline: "
    mov esi, [ebx + 16]
    call puts
    print 10
    print "mods_count "
    mov eax, [ebx + 20]
    call put_hex
    print 10

    mov edi, [ebx + 24]                 ; mods_addr: 16-byte entries
    mov ebp, [ebx + 20]
.module:
    test ebp, ebp
    jz .done
    mov eax, [edi]                      ; mod_start
    call outside_kernel
    check "module outside the kernel"
    test dword [edi], 0xFFF
    check "module page-aligned"
    print "module "
    mov eax, [edi + 4]
    sub eax, [edi]
    call put_hex                        ; its length
    print " fnv "
    mov esi, [edi]
    mov ecx, [edi + 4]
    mov eax, FNV_BASIS
.byte:
    cmp esi, ecx
    jae .hashed
    xor al, [esi]
    imul eax, eax, FNV_PRIME
    inc esi
    jmp .byte
.hashed:
    call put_hex
    print " string "
    mov esi, [edi + 8]
    call puts
    print 10
    add edi, 16
    dec ebp
    jmp .module
.done:
    cmp dword [canary], 0xC0FFEE42
    check "the kernel's own bytes intact"
    mov eax, [failures]
    out 0xF4, al
    jmp $

; outside_kernel: ZF = 1 when EAX is not inside [KLOAD, bss_end).
outside_kernel:
    cmp eax, KLOAD
    jb .yes
    cmp eax, bss_end
    jae .yes
    test esp, esp                       ; ESP is never 0 here: ZF = 0
    ret
.yes:
    cmp eax, eax
    ret

; put_hex: EAX as eight hex digits. Clobbers nothing but flags.
put_hex:
    pushad
    mov ebx, eax
    mov ecx, 8
.digit:
    rol ebx, 4
    mov eax, ebx
    and eax, 0xF
    mov al, [hex_digits + eax]
    mov [hex_out], al
    mov esi, hex_out
    call puts
    loop .digit
    popad
    ret

PUTS

hex_digits: db "0123456789abcdef"
hex_out: db 0, 0
failures: dd 0
info: dd 0
canary: dd 0xC0FFEE42               ; the last loaded bytes: where an info at the end would go
load_end:

absolute load_end
alignb 16
resb 4096
stack_top:
bss_end:
