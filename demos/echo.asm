; An a.out-kludge multiboot guest (flat binary at 3 MiB) that takes timer
; interrupts while it spins without ever exiting (so only the host's own
; timer brings the VMM back to deliver them), then reads a line from COM1 by
; polling the line status register, echoes it, and ends the VM through port
; 0xF4 with the number of bytes read. 32-bit protected mode.

bits 32
%include "lib.inc"
LOAD equ 0x300000
org LOAD
MB_FLAGS equ 1 << 16

header:
    dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
    dd header, LOAD, load_end, bss_end, start

TICKS_WANTED equ 5
PIC1 equ 0x20
PIT_CH0 equ 0x40
PIT_CMD equ 0x43
IRQ_BASE equ 0x20
LSR_DATA_READY equ 0x01

start:
    mov esp, stack_top
    lgdt [gdt_ptr]
    jmp SEL_CODE:.reload
.reload:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax

    ; IRQ 0 on vector 32 and the PIT at 1 kHz, then spin: no HLT, no I/O.
    mov eax, timer_isr
    mov [idt + IRQ_BASE * 8], ax
    mov word [idt + IRQ_BASE * 8 + 2], SEL_CODE
    mov word [idt + IRQ_BASE * 8 + 4], 0x8E00
    shr eax, 16
    mov [idt + IRQ_BASE * 8 + 6], ax
    lidt [idt_ptr]
    mov al, 0x11
    out PIC1, al
    mov al, IRQ_BASE
    out PIC1 + 1, al
    mov al, 0x04
    out PIC1 + 1, al
    mov al, 0x01
    out PIC1 + 1, al
    mov al, 0xFE
    out PIC1 + 1, al
    mov al, 0x34
    out PIT_CMD, al
    mov ax, 1193                               ; 1193182 Hz / 1000
    out PIT_CH0, al
    mov al, ah
    out PIT_CH0, al
    sti
.spin:
    pause
    cmp dword [ticks], TICKS_WANTED
    jb .spin
    cli
    mov al, 0xFF                               ; mask the timer again
    out PIC1 + 1, al
    print "spun until 5 timer interrupts", 13, 10

    print "type a line: "
.read:
    mov dx, COM1 + 5
    in al, dx
    test al, LSR_DATA_READY
    jz .read
    mov dx, COM1
    in al, dx
    cmp al, 13
    je .done
    cmp al, 10
    je .done
    call putc
    inc dword [line_len]
    jmp .read
.done:
    print 13, 10, "read "
    mov eax, [line_len]
    call put_hex
    print " bytes", 13, 10
    mov eax, [failures]
    test eax, eax
    jnz .fail
    mov eax, [line_len]
    out DEBUG_EXIT, al
.fail:
    mov al, 0xFF                               ; a check failed: result 255
    out DEBUG_EXIT, al
    cli
    hlt

timer_isr:
    push eax
    inc dword [ticks]
    mov al, 0x20
    out PIC1, al
    pop eax
    iret

lib

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
failures: dd 0
ticks: dd 0
load_end:

absolute load_end
alignb 8
line_len: resd 1
idt: resb 256 * 8
alignb 16
resb 4096
stack_top:
bss_end:
