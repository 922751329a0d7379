; A boot sector for vm.load_flat(data, 0x7C00, 0x7C00, 'real'): 16-bit real
; mode at 0000:7C00 as a BIOS would start it, but with no BIOS behind it, so
; it prints through the COM1 ports itself and ends the VM through port 0xF4
; with 0x42. 512 bytes with the 0x55AA signature.

bits 16
org 0x7C00
COM1 equ 0x3F8

start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7C00
    mov si, message
.next:
    lodsb
    test al, al
    jz .done
    mov ah, al
    mov dx, COM1 + 5
.wait:
    in al, dx
    test al, 0x20                      ; transmitter holding register empty
    jz .wait
    mov al, ah
    mov dx, COM1
    out dx, al
    jmp .next
.done:
    mov al, 0x42
    out 0xF4, al
    hlt

message: db "hello from a boot sector", 13, 10, 0

times 510 - ($ - $$) db 0
dw 0xAA55
