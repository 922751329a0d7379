; mpvisor's demo guest: a small multiboot kernel (a.out-kludge fields, flat
; binary at 1 MiB) that says hello over COM1, finds the hypervisor through
; CPUID, makes a hypercall, takes timer interrupts from the (emulated) PIT
; through the (emulated) PIC, and ends the VM through port 0xF4 with the
; number of failed checks (0). 32-bit protected mode, as multiboot starts it.

bits 32
%include "lib.inc"
LOAD equ 0x100000
org LOAD
MB_FLAGS equ 1 << 16

header:
    dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
    dd header, LOAD, load_end, bss_end, start

TICKS_WANTED equ 3
PIC1 equ 0x20
PIT_CH0 equ 0x40
PIT_CMD equ 0x43
IRQ_BASE equ 0x20                    ; the PIC's IRQ 0 on vector 32

start:
    mov esp, stack_top
    mov ebp, eax
    ; Multiboot leaves GDTR undefined (spec 3.2): load our own before any
    ; segment load, including the CS load of an interrupt gate.
    lgdt [gdt_ptr]
    jmp SEL_CODE:.reload
.reload:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    cmp ebp, MB_LOADER_MAGIC
    check "started by a multiboot loader"
    print "hello from the demo guest", 13, 10

    ; CPUID leaf 1 ECX bit 31: a hypervisor is present; 0x40000000 names it.
    mov eax, 1
    cpuid
    bt ecx, 31
    setc al
    cmp al, 1
    check "CPUID says a hypervisor is present"
    mov eax, 0x40000000
    cpuid
    cmp ebx, 'mpvi'
    check "CPUID 0x40000000 signature is mpvisor"

    ; The hypercall instruction is the vendor's: VMMCALL on AMD, VMCALL on Intel.
    xor eax, eax
    cpuid
    mov eax, HC_ADD
    mov edi, 40
    mov esi, 2
    xor edx, edx
    xor ecx, ecx
    cmp ebx, 'Auth'                    ; "AuthenticAMD"
    jne .intel
    vmmcall
    jmp .called
.intel:
    vmcall
.called:
    cmp eax, 42
    check "hypercall HC_ADD(40, 2) returned 42"

    ; Timer: an IDT entry for IRQ 0, the PIC remapped to 32, the PIT at 100 Hz.
    mov eax, timer_isr
    mov [idt + IRQ_BASE * 8], ax
    mov word [idt + IRQ_BASE * 8 + 2], SEL_CODE
    mov word [idt + IRQ_BASE * 8 + 4], 0x8E00  ; present 32-bit interrupt gate
    shr eax, 16
    mov [idt + IRQ_BASE * 8 + 6], ax
    lidt [idt_ptr]
    mov al, 0x11                               ; ICW1: edge, cascade, ICW4 follows
    out PIC1, al
    mov al, IRQ_BASE                           ; ICW2: vector base
    out PIC1 + 1, al
    mov al, 0x04                               ; ICW3: slave on IRQ 2
    out PIC1 + 1, al
    mov al, 0x01                               ; ICW4: 8086 mode
    out PIC1 + 1, al
    mov al, 0xFE                               ; OCW1: only IRQ 0 unmasked
    out PIC1 + 1, al
    mov al, 0x34                               ; channel 0, lo/hi, mode 2 (rate generator)
    out PIT_CMD, al
    mov ax, 11932                              ; 1193182 Hz / 100
    out PIT_CH0, al
    mov al, ah
    out PIT_CH0, al
.wait:
    sti                                        ; STI's shadow covers HLT: no wake-up is lost
    hlt
    cli                                        ; count with interrupts off, so exactly 3
    cmp dword [ticks], TICKS_WANTED
    jb .wait
    cmp dword [ticks], TICKS_WANTED
    check "3 timer interrupts taken"
    out 0x80, al                               ; POST code: ignored by the VMM
    jmp finish

timer_isr:
    push eax
    inc dword [ticks]
    mov al, 0x20                               ; non-specific EOI
    out PIC1, al
    pop eax
    iret

lib

SEL_CODE equ 0x08
SEL_DATA equ 0x10
align 8
gdt:
    dq 0
    dq 0x00CF9A000000FFFF                      ; 0x08: flat 32-bit code
    dq 0x00CF92000000FFFF                      ; 0x10: flat data
gdt_ptr:
    dw 3 * 8 - 1
    dd gdt
idt_ptr:
    dw 256 * 8 - 1
    dd idt
failures: dd 0
ticks: dd 0
load_end:

absolute load_end
alignb 8
idt: resb 256 * 8
alignb 16
resb 4096
stack_top:
bss_end:
