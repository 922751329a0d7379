; Trivial multiboot v1 kernel for the harness (32-bit protected mode, flat binary).
; Prints "K\r\n" on COM1, then exits the emulator: isa-debug-exit (QEMU), then
; the Bochs shutdown port, then halts forever. Baseline for boot-time benchmarks.
; Build: nasm -f bin -o trivial.bin qemu/trivial.asm

        bits 32
        org 0x100000                    ; loaded at 1 MiB (a.out-kludge fields below)

MB_MAGIC    equ 0x1BADB002
MB_FLAGS    equ 1 << 16                 ; Multiboot 0.6.96 3.1.2: address fields valid
COM1        equ 0x3f8
LSR_THRE    equ 0x20                    ; 16550 LSR bit 5: transmit holding register empty
LSR_TEMT    equ 0x40                    ; 16550 LSR bit 6: FIFO and shift register empty
DEBUG_EXIT  equ 0xf4                    ; QEMU isa-debug-exit: status = (value << 1) | 1
BOCHS_SHUT  equ 0x8900                  ; Bochs: "Shutdown" written here exits

header:                                 ; must lie in the first 8 KiB, 4-byte aligned
        dd MB_MAGIC
        dd MB_FLAGS
        dd -(MB_MAGIC + MB_FLAGS)       ; checksum
        dd header                       ; header_addr
        dd header                       ; load_addr: the file starts at the header
        dd end                          ; load_end_addr
        dd end                          ; bss_end_addr: no bss
        dd start                        ; entry_addr

start:
        cli
        mov esp, stack_top
        ; 115200 8N1, FIFOs on (GRUB already did this; -kernel boots did not)
        mov dx, COM1 + 1
        xor al, al
        out dx, al                      ; IER = 0: no interrupts
        mov dx, COM1 + 3
        mov al, 0x80
        out dx, al                      ; LCR: DLAB on
        mov dx, COM1
        mov al, 1
        out dx, al                      ; divisor low = 1 (115200 baud)
        inc dx
        xor al, al
        out dx, al                      ; divisor high = 0
        mov dx, COM1 + 3
        mov al, 0x03
        out dx, al                      ; LCR: 8N1, DLAB off
        mov dx, COM1 + 2
        mov al, 0x07
        out dx, al                      ; FCR: enable and clear FIFOs

        mov esi, msg
.print:
        lodsb
        test al, al
        jz .exit
        mov ah, al
        mov dx, COM1 + 5
.wait:
        in al, dx                       ; poll LSR until THR is empty
        test al, LSR_THRE
        jz .wait
        mov dx, COM1
        mov al, ah
        out dx, al
        jmp .print

.exit:
        mov dx, COM1 + 5
.drain:                                 ; Bochs drops bytes still in the FIFO when
        in al, dx                       ; it exits: wait until all are on the wire
        test al, LSR_TEMT
        jz .drain
        xor eax, eax
        out DEBUG_EXIT, al              ; QEMU exits here with status 1
        mov dx, BOCHS_SHUT
        mov esi, shutdown
.shut:
        lodsb
        test al, al
        jz .halt
        out dx, al
        jmp .shut
.halt:
        cli
        hlt
        jmp .halt

msg:      db "K", 13, 10, 0
shutdown: db "Shutdown", 0

        align 16
stack:    times 256 db 0
stack_top:
end:
