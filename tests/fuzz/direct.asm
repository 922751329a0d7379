; Runs generated guests (tests/payloads/fuzzref.py) directly under plain
; QEMU TCG, no hypervisor, as the reference for the architectural fuzzer: a
; multiboot kernel (a.out kludge, at 1 MiB) whose first module holds the
; guests ("MPFZ", count, flags (bit 0: dump memory), then per guest: mode
; 0/1/2, length, bytes, padded to 4). Per guest it prints "G <index>", zeroes LOAD..FAR+FAR_LEN, copies
; the guest to LOAD and enters it in the state hv's vCPU setup(mode) gives
; (real mode CS:IP 1000:0000 and data segments 0; flat 32-bit protected
; mode, paging off; 64-bit mode identity-mapped by 2 MiB pages); the guest
; prints its digest, writes port 0xF4 (no device here) and jumps back to
; RET_*, and the kernel prints "S" and the 17 STATE qwords (with the dump
; flag also "M" lines: DATA and FAR in hex). Then "END" and
; isa-debug-exit at EXIT_PORT. 32-bit code, with 16- and 64-bit pieces
; copied below 1 MiB (LOW) where real mode can reach them.
bits 32
%include "layout.inc"

%define MB_MAGIC        0x1BADB002
%define MB_LOADER_MAGIC 0x2BADB002
%define MB_INFO_MODS    (1 << 3)
%define KBASE           0x100000
%define LOW             0x8000      ; = RET_REAL; QEMU puts its multiboot info at 0x9000
%define STACK_TOP       0x7000
%define PML4            0x2000      ; as hv.x86.guest_tables.long_mode_tables(0x1000)
%define PDPT            0x3000
%define PD              0x4000
%define COM1            0x3F8
%define EXIT_PORT       0x501       ; isa-debug-exit here, not at 0xF4 where guests write
%define SEL_CODE32      0x08
%define SEL_DATA32      0x10
%define SEL_CODE64      0x18
%define SEL_CODE16      0x20
%define SEL_DATA16      0x28
%define CR0_PE          (1 << 0)
%define CR0_WP          (1 << 16)
%define CR0_PG          (1 << 31)
%define CR4_PAE         (1 << 5)
%define MSR_EFER        0xC0000080
%define EFER_LME        (1 << 8)
%define EFER_NXE        (1 << 11)

org KBASE
section .text
header:                                 ; multiboot v1 (spec 3.1.1), a.out kludge
    dd MB_MAGIC, 1 << 16, -(MB_MAGIC + (1 << 16))
    dd header, KBASE, 0, 0, start       ; load the whole file, no bss

start:
    cli
    cld
    mov esp, STACK_TOP
    cmp eax, MB_LOADER_MAGIC
    jne no_module
    mov esi, section..low.start          ; the pieces real mode must reach, to LOW
    mov edi, LOW                        ; (below the multiboot info QEMU puts at 0x9000)
    mov ecx, low_end - LOW
    rep movsb
    test dword [ebx], MB_INFO_MODS
    jz no_module
    cmp dword [ebx + 20], 1             ; mods_count
    jb no_module
    mov eax, [ebx + 24]                 ; mods_addr -> { mod_start, mod_end, ... }
    mov esi, [eax]
    cmp dword [esi], 'MPFZ'
    jne no_module
    mov eax, [esi + 4]
    mov [left], eax
    mov eax, [esi + 8]
    mov [flags], eax
    add esi, 12
    mov [rec], esi
    lgdt [gdtr]                         ; multiboot leaves GDTR undefined (spec 3.2)
    jmp SEL_CODE32:.flat
.flat:
    mov ax, SEL_DATA32
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    call page_tables

next:
    mov esp, STACK_TOP
    cmp dword [left], 0
    je finish
    mov esi, msg_guest
    call puts
    mov eax, [index]
    call hex32
    mov al, 10
    call putc
    xor eax, eax                        ; a fresh VM's RAM is zero
    mov edi, LOAD
    mov ecx, (FAR + FAR_LEN - LOAD) / 4
    rep stosd
    mov esi, [rec]
    mov ebx, [esi]                      ; mode
    mov ecx, [esi + 4]                  ; length
    cmp ecx, BLOB_LEN
    ja bad_record
    add esi, 8
    mov edi, LOAD
    rep movsb
    add esi, 3
    and esi, ~3
    mov [rec], esi
    cmp ebx, 1
    jb to_real
    ja .long
    jmp SEL_CODE32:LOAD                 ; protected mode: flat, as it is
.long:
    cmp ebx, 2
    jne bad_record
    mov eax, cr4                        ; long mode (SDM 3A 10.8.5): PAE, CR3, EFER.LME, CR0.PG
    or eax, CR4_PAE
    mov cr4, eax
    mov eax, PML4
    mov cr3, eax
    mov ecx, MSR_EFER
    rdmsr
    or eax, EFER_LME | EFER_NXE
    wrmsr
    mov eax, cr0
    or eax, CR0_PG | CR0_WP
    mov cr0, eax
    jmp SEL_CODE64:enter_long
to_real:
    jmp SEL_CODE16:enter_real

back32:                                 ; every guest comes back here, in flat 32-bit mode
    cld                                 ; the guest may have left DF set
    mov ax, SEL_DATA32
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    mov esp, STACK_TOP
    mov eax, cr4                        ; protected-mode guests see CR4 = 0, as under setup()
    and eax, ~CR4_PAE
    mov cr4, eax
    mov eax, cr0
    and eax, ~CR0_WP
    mov cr0, eax
    mov esi, msg_state
    call puts
    mov ebx, STATE
.slot:
    mov al, ' '
    call putc
    mov eax, [ebx + 4]
    call hex32
    mov eax, [ebx]
    call hex32
    add ebx, 8
    cmp ebx, STATE + STATE_LEN
    jb .slot
    mov al, 10
    call putc
    test dword [flags], 1
    jz .counted
    mov esi, DATA
    mov ecx, DATA_LEN
    call dump
    mov esi, FAR
    mov ecx, FAR_LEN
    call dump
.counted:
    inc dword [index]
    dec dword [left]
    jmp next

finish:
    mov esi, msg_end
    call puts
    xor eax, eax
    jmp exit
bad_record:
    mov esi, msg_bad_record
    call puts
    mov eax, 1
    jmp exit
no_module:
    mov esi, msg_no_module
    call puts
    mov eax, 1
exit:
    mov dx, EXIT_PORT
    out dx, al                          ; QEMU exits with (al << 1) | 1
.hang:
    hlt
    jmp .hang

page_tables:                            ; PML4 -> PDPT -> PD of 512 2 MiB pages: the first GiB
    xor eax, eax
    mov edi, PML4
    mov ecx, 3 * 4096 / 4
    rep stosd
    mov dword [PML4], PDPT | 3
    mov dword [PDPT], PD | 3
    mov edi, PD
    mov eax, 0x83                       ; present, writable, 2 MiB (SDM 3A Table 5-16)
.pde:
    mov [edi], eax
    add eax, 0x200000
    add edi, 8
    cmp edi, PD + 4096
    jb .pde
    ret

dump:                                   ; "M" and ecx bytes at esi in hex, a line
    mov al, 'M'
    call putc
    mov al, ' '
    call putc
.byte:
    lodsb
    push eax
    shr al, 4
    call nibble
    pop eax
    call nibble
    loop .byte
    mov al, 10
    jmp putc

nibble:                                 ; the low 4 bits of al as a hex digit
    and al, 15
    add al, '0'
    cmp al, '9'
    jbe putc
    add al, 'a' - '9' - 1
    jmp putc

puts:                                   ; NUL-terminated string at esi to COM1
    lodsb
    test al, al
    jz .done
    call putc
    jmp puts
.done:
    ret

putc:                                   ; al to COM1 once its transmitter holds nothing
    push edx
    push eax
    mov dx, COM1 + 5
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    pop eax
    mov dx, COM1
    out dx, al
    pop edx
    ret

hex32:                                  ; eax as 8 hex digits
    push ecx
    mov ecx, 8
.digit:
    rol eax, 4
    push eax
    and al, 15
    add al, '0'
    cmp al, '9'
    jbe .out
    add al, 'a' - '9' - 1
.out:
    call putc
    pop eax
    loop .digit
    pop ecx
    ret

msg_guest:      db "G ", 0
msg_state:      db "S", 0
msg_end:        db "END", 10, 0
msg_bad_record: db "direct: a malformed guest record", 10, 0
msg_no_module:  db "direct: no MPFZ module (pass the guests with -initrd)", 10, 0

section .low follows=.text vstart=LOW
bits 16
ret_real:                               ; RET_REAL: from a real-mode guest (CS = 0)
    cli
    xor ax, ax
    mov ds, ax
    o32 lgdt [gdtr]
    mov eax, cr0
    or al, CR0_PE
    mov cr0, eax
    jmp dword SEL_CODE32:back32
    times (RET_PROT - LOW) - ($ - $$) db 0xCC
bits 32
ret_prot:                               ; RET_PROT: from a protected-mode guest
    mov eax, back32
    jmp eax
    times (RET_LONG - LOW) - ($ - $$) db 0xCC
bits 64
ret_long:                               ; RET_LONG: from a 64-bit guest, to compatibility mode
    mov esp, STACK_TOP                  ; not the guest's stack: its memory is reported as it left it
    push SEL_CODE32
    mov eax, compat
    push rax
    retfq
bits 32
compat:                                 ; leave IA-32e mode: paging off, then EFER.LME (SDM 3A 10.8.5.4)
    mov eax, cr0
    and eax, ~CR0_PG
    mov cr0, eax
    mov ecx, MSR_EFER
    rdmsr
    and eax, ~(EFER_LME | EFER_NXE)
    wrmsr
    mov eax, back32
    jmp eax
bits 16
enter_real:                             ; 16-bit protected mode: load 64 KiB limits, leave PE
    mov ax, SEL_DATA16
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    mov eax, cr0
    and al, ~CR0_PE
    mov cr0, eax
    jmp 0:.real
.real:
    xor ax, ax                          ; setup('real'): every data segment 0
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    jmp (LOAD >> 4):0
bits 64
enter_long:
    mov eax, LOAD
    jmp rax

align 8
gdt:
    dq 0
    dq 0x00CF9A000000FFFF               ; 0x08 code, 32-bit, flat
    dq 0x00CF92000000FFFF               ; 0x10 data, flat
    dq 0x00AF9A000000FFFF               ; 0x18 code, 64-bit
    dq 0x00009A000000FFFF               ; 0x20 code, 16-bit, 64 KiB
    dq 0x000092000000FFFF               ; 0x28 data, 16-bit, 64 KiB
gdt_end:
gdtr:
    dw gdt_end - gdt - 1
    dd gdt
rec:    dd 0                            ; the next guest record
left:   dd 0                            ; guests still to run
index:  dd 0
flags:  dd 0                            ; the module's flags word
low_end:
%if RET_REAL != LOW
%error "RET_REAL must be LOW"
%endif
