; Hostile and broken guests for tests/target/hostile_cases.py: one multiboot
; kernel (a.out-kludge fields, flat at 1 MiB: hv.boot(guests.HOSTILE, CASE))
; that misbehaves as its command line CASE says: triple fault, undefined
; opcodes with and without an IDT, bad MSR values, exit storms, a spin with
; interrupts off, an unknown hypercall, unhandled ports. Guest code: 32-bit
; protected mode, as a multiboot loader starts it (EBX = multiboot info).
bits 32
%include "common.inc"
KLOAD equ 0x100000
org KLOAD
MB_MAGIC equ 0x1BADB002
MB_FLAGS equ 1 << 16                    ; the a.out-kludge address fields follow
header:
    dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
    dd header, KLOAD, load_end, bss_end, start

MSR_EFER equ 0xC0000080
MSR_FS_BASE equ 0xC0000100
MSR_PAT equ 0x277
EFER_LME equ 1 << 8
EFER_SVME equ 1 << 12
HC_HOSTILE equ 0x4D0                    ; a hypercall the default VMM does not know

; faults VECTOR, instruction -- runs it; ZF = 1 when it raised VECTOR (the
; handler steps over it)
%macro faults 2+
    mov dword [last_vec], -1
    mov dword [skip], %%end - %%insn
%%insn:
    %2
%%end:
    cmp dword [last_vec], %1
%endmacro

; check "what" -- "what ok" if ZF is set, else "what BAD", counted in [failures]
%macro check 1
    jz %%ok
    inc dword [failures]
%%ok:
    verdict %1
%endmacro

start:
    mov esp, stack_top
    lgdt [gdt_ptr]
    jmp SEL_CODE:.reload
.reload:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    lidt [no_idt]                       ; any exception is a triple fault until a case sets one
    mov esi, empty                      ; the command line (info flag 2, offset 16)
    test byte [ebx], 4
    jz .pick
    mov esi, [ebx + 16]
.pick:
    mov edi, cases
.next:
    mov eax, [edi]
    test eax, eax
    jz .unknown
    call streq
    je .found
    add edi, 8
    jmp .next
.found:
    jmp [edi + 4]
.unknown:
    print "hostile: no such case", 10
    mov al, 0xFF
    out 0xF4, al
    jmp $

cases:
    dd n_triple, triple, n_junk, junk, n_ud_idt, ud_idt, n_msr, msr
    dd n_storm_out, storm_out, n_storm_cpuid, storm_cpuid, n_storm_hc, storm_hc
    dd n_cli_spin, cli_spin, n_hypercall, hypercall, n_port, port, 0
n_triple: db "triple", 0
n_junk: db "junk", 0
n_ud_idt: db "ud-idt", 0
n_msr: db "msr", 0
n_storm_out: db "storm-out", 0
n_storm_cpuid: db "storm-cpuid", 0
n_storm_hc: db "storm-hc", 0
n_cli_spin: db "cli-spin", 0
n_hypercall: db "hypercall", 0
n_port: db "port", 0
empty: db 0

; --- Broken: no IDT, so the first exception escalates to a triple fault ---
triple:
    ud2
junk:                                   ; FE /7 is undefined (#UD), then bytes never reached
    db 0xFE, 0xF8, 0x3B, 0x17, 0xC4, 0x0F, 0xFF, 0x62

; --- A guest with an IDT handles its own #UD ---
ud_idt:
    call set_idt
    faults 6, ud2
    check "ud2 raised #UD in the guest"
    faults 6, db 0xFE, 0xF8
    check "undefined opcode FE /7 raised #UD in the guest"
    jmp finish

; --- MSR values hardware refuses must #GP, never reach the VMCB/VMCS ---
msr:
    call set_idt
    mov ecx, MSR_EFER
    rdmsr
    mov [efer], eax
    or eax, 1 << 2                      ; a reserved bit
    xor edx, edx
    faults 13, wrmsr
    check "efer reserved bit: #gp"
    mov eax, [efer]
    or eax, EFER_SVME                   ; SVM is hidden from the guest's CPUID
    xor edx, edx
    faults 13, wrmsr
    check "efer.svme: #gp"
    mov dword [pd], 0x83                ; 4 MiB page at 0: present, writable, PS
    mov eax, cr4
    or eax, 1 << 4                      ; CR4.PSE
    mov cr4, eax
    mov eax, pd
    mov cr3, eax
    mov eax, cr0
    or eax, 1 << 31                     ; paging on
    mov cr0, eax
    mov ecx, MSR_EFER
    mov eax, [efer]
    or eax, EFER_LME                    ; LME may not change while CR0.PG = 1
    xor edx, edx
    faults 13, wrmsr
    check "efer.lme with paging on: #gp"
    mov eax, cr0
    and eax, ~(1 << 31)                 ; paging off again
    mov cr0, eax
    mov ecx, MSR_PAT
    mov eax, 0x02                       ; memory type 2 is reserved (SDM 3A 13.12.2)
    xor edx, edx
    faults 13, wrmsr
    check "pat reserved type: #gp"
    mov ecx, MSR_FS_BASE
    xor eax, eax
    mov edx, 0x80000000                 ; not canonical (SDM 2B WRMSR: #GP)
    faults 13, wrmsr
    jne .fs_taken
    print "fs_base non-canonical: #gp", 10
    jmp finish
.fs_taken:
    print "fs_base non-canonical: accepted", 10
    jmp finish

; --- Exit storms: exits forever, never ending by themselves ---
storm_out:
    out 0x80, al
    jmp storm_out
storm_cpuid:
    mov eax, 0x40000000
    xor ecx, ecx
    cpuid
    jmp storm_cpuid
storm_hc:
    hcall HC_ADD, 1
    jmp storm_hc

; --- A spin with interrupts off: only the hypervisor's timer gets control ---
cli_spin:
    cli
    jmp $

; --- What the default VMM does not allow: an unknown hypercall, a port no
; device has. Once the test allows them the guest ends with what it got. ---
hypercall:
    hcall HC_HOSTILE, 7
    out 0xF4, al
    jmp $
port:
    mov al, 0x0F
    mov dx, 0x260
    out dx, al                          ; no PC device at 0x260-0x261
    inc dx
    in al, dx
    out 0xF4, al
    jmp $

finish:
    mov eax, [failures]
    out 0xF4, al
    jmp $

; streq: ZF = 1 when the NUL-terminated strings at ESI and EAX are equal.
streq:
    push esi
    push eax
.l:
    mov cl, [esi]
    cmp cl, [eax]
    jne .done
    test cl, cl
    jz .done
    inc esi
    inc eax
    jmp .l
.done:
    pop eax
    pop esi
    ret

; set_idt: gates for #UD (6) and #GP (13); other vectors stay not present.
set_idt:
    mov eax, on_ud
    mov edi, idt + 6 * 8
    call gate
    mov eax, on_gp
    mov edi, idt + 13 * 8
    call gate
    lidt [idt_ptr]
    ret
gate:
    mov [edi], ax
    mov word [edi + 2], SEL_CODE
    mov word [edi + 4], 0x8E00          ; present 32-bit interrupt gate
    shr eax, 16
    mov [edi + 6], ax
    ret
on_gp:
    add esp, 4                          ; the error code
    mov dword [last_vec], 13
    jmp resume
on_ud:
    mov dword [last_vec], 6
resume:
    push eax
    mov eax, [skip]
    add [esp + 4], eax                  ; EIP past the faulting instruction
    pop eax
    iret

PUTS

SEL_CODE equ 0x08
SEL_DATA equ 0x10
align 8
gdt:
    dq 0
    dq 0x00CF9A000000FFFF
    dq 0x00CF92000000FFFF
gdt_ptr:
    dw 3 * 8 - 1
    dd gdt
idt_ptr:
    dw 256 * 8 - 1
    dd idt
no_idt:
    dw 0
    dd 0
failures: dd 0
last_vec: dd 0
skip: dd 0
efer: dd 0
load_end:

absolute load_end
alignb 4096
pd: resb 4096
idt: resb 256 * 8
resb 4096
stack_top:
bss_end:
