; 32-bit multiboot entry and the switch to 64-bit long mode.
; Runs in 32-bit protected mode with paging off, as the multiboot spec
; (section 3.2) leaves the machine; ends in 64-bit mode calling kmain.
; The boot page tables identity-map 0-4 GiB with 2 MiB pages; port/paging.c
; replaces them with a map of all RAM once C runs.

%define PTE_PRESENT   (1 << 0)
%define PTE_WRITABLE  (1 << 1)
%define PTE_HUGE      (1 << 7)
%define CR0_MP        (1 << 1)
%define CR0_EM        (1 << 2)
%define CR0_WP        (1 << 16)
%define CR0_PG        (1 << 31)
%define CR4_PSE       (1 << 4)
%define CR4_PAE       (1 << 5)
%define CR4_PGE       (1 << 7)
%define CR4_OSFXSR    (1 << 9)
%define CR4_OSXMMEXCPT (1 << 10)
%define CR4_OSXSAVE   (1 << 18)
%define MSR_EFER      0xC0000080
%define EFER_LME      (1 << 8)
%define COM1          0x3F8

extern kmain
global boot_entry32, boot_gdt, boot_pml4, boot_stack_top
global SEL_CODE64, SEL_DATA, SEL_TSS

SEL_CODE64 equ 0x08
SEL_DATA   equ 0x10
SEL_TSS    equ 0x18

section .text
bits 32
; void boot_entry32(void) -- EAX = multiboot magic, EBX = info address.
boot_entry32:
    cli
    cld
    mov esp, boot_stack_top
    mov edi, eax                ; keep magic and info pointer for kmain
    mov esi, ebx

    ; Long mode present? (AMD APM Vol. 3, CPUID Fn8000_0001 EDX bit 29)
    mov eax, 0x80000000
    cpuid
    cmp eax, 0x80000001
    jb .no_long_mode
    mov eax, 0x80000001
    cpuid
    test edx, 1 << 29
    jz .no_long_mode

    ; PML4[0] -> PDPT, PDPT[0..3] -> four page directories of 2 MiB pages.
    mov eax, boot_pdpt
    or eax, PTE_PRESENT | PTE_WRITABLE
    mov [boot_pml4], eax
    xor ecx, ecx
.pdpt_loop:
    mov eax, ecx
    shl eax, 12
    add eax, boot_pd
    or eax, PTE_PRESENT | PTE_WRITABLE
    mov [boot_pdpt + ecx * 8], eax
    inc ecx
    cmp ecx, 4
    jb .pdpt_loop
    xor ecx, ecx                ; 2048 entries x 2 MiB = 4 GiB
.pd_loop:
    mov eax, ecx
    shl eax, 21
    or eax, PTE_PRESENT | PTE_WRITABLE | PTE_HUGE
    mov [boot_pd + ecx * 8], eax
    mov eax, ecx
    shr eax, 11                 ; bits 32+ of the address
    mov [boot_pd + ecx * 8 + 4], eax
    inc ecx
    cmp ecx, 2048
    jb .pd_loop

    ; SDM 3A 10.8.5: PAE, then CR3, then EFER.LME, then CR0.PG activates IA-32e.
    mov eax, cr4
    or eax, CR4_PAE
    mov cr4, eax
    mov eax, boot_pml4
    mov cr3, eax
    mov ecx, MSR_EFER
    rdmsr
    or eax, EFER_LME
    wrmsr
    mov eax, cr0
    or eax, CR0_PG | CR0_WP
    mov cr0, eax
    lgdt [boot_gdt_ptr]
    jmp SEL_CODE64:long_mode_entry

.no_long_mode:
    mov ebx, no_long_mode_msg
.print:
    mov dx, COM1 + 5            ; line status: wait for THR empty
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    mov al, [ebx]
    test al, al
    jz .halt
    mov dx, COM1
    out dx, al
    inc ebx
    jmp .print
.halt:
    mov al, 3                   ; QEMU isa-debug-exit: status 7
    out 0xF4, al
    cli
    hlt
    jmp .halt

bits 64
long_mode_entry:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax
    mov rsp, boot_stack_top

    ; SSE for compiled C and MicroPython floats (SDM 3A 13.1.3).
    mov rax, cr0
    and rax, ~CR0_EM
    or rax, CR0_MP
    mov cr0, rax
    mov rax, cr4
    or rax, CR4_OSFXSR | CR4_OSXMMEXCPT
    ; PSE and PGE as guests set them (Linux does): no effect on these tables
    ; (long mode ignores PSE, no entry is global), but QEMU TCG flushes its
    ; whole TLB and jump cache on a world switch that changes either bit, on
    ; top of the flush for CR3 (a flush per VMRUN and #VMEXIT more).
    or rax, CR4_PSE | CR4_PGE
    mov cr4, rax
    fninit                      ; x87 control word 0x37F: exceptions masked, double
                                ; extended precision (SDM 1 8.1.5); Bochs' firmware
                                ; leaves the reset value 0x40 (unmasked, single)
    ; XSAVE present? Enable it so XGETBV/XSETBV work; XCR0 = x87 | SSE.
    push rdi
    push rsi
    mov eax, 1
    cpuid
    pop rsi
    pop rdi
    test ecx, 1 << 26
    jz .no_xsave
    mov rax, cr4
    or rax, CR4_OSXSAVE
    mov cr4, rax
    xor ecx, ecx
    mov eax, 3
    xor edx, edx
    xsetbv
.no_xsave:
    ; kmain(uint32_t magic /* edi */, uint32_t info /* esi */) never returns.
    call kmain
.hang:
    cli
    hlt
    jmp .hang

section .rodata
no_long_mode_msg: db "mpvisor: this CPU has no 64-bit long mode", 13, 10, 0

section .data
align 16
; SDM 3A 3.4.5: flat 64-bit code and data; the TSS descriptor (16 bytes,
; SDM 3A 8.2.3) is filled in by port/cpu_tables.c.
boot_gdt:
    dq 0
    dq 0x00AF9A000000FFFF       ; 0x08: code, L=1, DPL 0
    dq 0x00CF92000000FFFF       ; 0x10: data, writable
    dq 0, 0                     ; 0x18: 64-bit TSS
boot_gdt_end:
boot_gdt_ptr:
    dw boot_gdt_end - boot_gdt - 1
    dq boot_gdt

section .bss
align 4096
boot_pml4: resb 4096
boot_pdpt: resb 4096
boot_pd:   resb 4096 * 4
align 16
boot_stack: resb 256 * 1024
boot_stack_top:
