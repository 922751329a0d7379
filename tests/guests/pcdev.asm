; The PC's devices as a test kernel finds them (tests/target/pc_cases.py):
; PIT channel 2 through port 0x61, the CMOS RTC ticking in BCD and binary and
; its periodic interrupt on IRQ 8 through the 8259A pair, the 16550's MCR
; loopback and THRE interrupt on IRQ 4, the RSDP by the 16-byte scan and the
; RSDT/XSDT/FADT/MADT checksums, the ACPI PM timer, fw_cfg's signature and
; RAM size, a PCI bus scan; prints "<check> ok" or "<check> BAD" per check.
; Then it ends as PARAMS says: 0 port 0xF4, 1 ACPI S5, 2 8042 pulse (2 and 3
; skip the checks), 3 reset register 0xCF9. Guest code: 64-bit, setup('long')'s
; identity map of the first GiB.
bits 64
%include "common.inc"
org LOAD
%define PARAMS      0x18000         ; +0 how to end, +8 the RAM size the VMM gave, +16 1: the VM has the APICs
%define VEC_MASTER  0x20
%define VEC_SLAVE   0x28
%define SPIN        20000000        ; bound on every wait (each step exits)

start:
    mov rsp, stack_top
    mov rax, irq8
    mov rdi, idt + (VEC_SLAVE + 0) * 16
    call set_gate
    mov rax, irq4
    mov rdi, idt + (VEC_MASTER + 4) * 16
    call set_gate
    lidt [idtr]
    cmp qword [PARAMS], 2
    jae the_end

; -- 8254 channel 2 behind port 0x61 (how Linux calibrates the TSC) ---------
    ; Three tries, as Linux's calibration retries: while no timer interrupts
    ; the guest, its time includes the VMM's (hv.vmm.ticks), and a garbage
    ; collection there (~1.7 s of Bochs' time) can outlast the 55 ms count.
    mov r8d, 3
.pit_try:
    mov al, 0x01                    ; GATE 2 high, speaker data off
    out 0x61, al
    mov al, 0xB0                    ; channel 2, lo/hi, mode 0, binary
    out 0x43, al
    mov al, 0xFF
    out 0x42, al
    out 0x42, al                    ; 0xFFFF: 55 ms (guest time includes the VMM's here)
    call latch2
    mov ebx, eax
    in al, 0x61
    test al, 0x20                   ; OUT 2 low while counting
    jnz .pit_again
    in al, 0x61
    call latch2                     ; a little later: counted down
    cmp eax, ebx
    jae .pit_again
    mov ecx, SPIN / 100
.pit_wait:                          ; OUT 2 rises at terminal count
    dec ecx
    jz .pit_bad
    in al, 0x61
    test al, 0x20
    jz .pit_wait
    xor eax, eax
    jmp .pit_done
.pit_again:
    dec r8d
    jnz .pit_try
.pit_bad:
    or eax, 1
.pit_done:
    verdict "pit ch2 counts, out 2 high at 0x61"

; -- MC146818A RTC ---------------------------------------------------------------
    mov al, 0x0B                    ; register B: 24 h, BCD (a BIOS's choice)
    mov ah, 0x02
    call cmos_write
    mov al, 0x00
    call cmos_read
    mov bl, al                      ; the seconds before an update cycle
    call next_update                ; UIP seen rising and falling
    jnz .rtc_bad
    mov al, 0x00
    call cmos_read
    cmp al, bl
    je .rtc_bad                     ; the update advanced the seconds
    mov bl, al
    and al, 0x0F                    ; BCD: both digits 0-9, below 0x60
    cmp al, 9
    ja .rtc_bad
    cmp bl, 0x60
    jae .rtc_bad
    xor eax, eax
    jmp .rtc_done
.rtc_bad:
    or eax, 1
.rtc_done:
    verdict "rtc ticks, bcd seconds"
    ; Three tries, as for the PIT: with no timer armed the guest's time
    ; includes the VMM's, and a garbage collection between two reads of
    ; register A (~1.7 s under Bochs) carries the clock past a second update.
    mov r8d, 3
.bin_try:
    mov al, 0x0B                    ; SET, binary, 24 h: the time is written in binary
    mov ah, 0x86
    call cmos_write
    mov rsi, bin_time
.set_time:
    lodsw                           ; AL register, AH value
    test al, al
    js .set_done
    call cmos_write
    jmp .set_time
.set_done:
    mov al, 0x0B                    ; SET cleared: the clock runs on from 12:00:30
    mov ah, 0x06
    call cmos_write
    call next_update
    jnz .bin_bad
    mov al, 0x00
    call cmos_read
    cmp al, 60
    jae .bin_bad
    mov [bin_seen], al
    cmp al, 31                      ; the first update after SET: one second later (the RTC
    jb .bin_bad                     ; shows UIP to a poll that stepped over its window)
    cmp al, 32
    ja .bin_bad
    xor eax, eax
    jmp .bin_done
.bin_bad:
    dec r8d
    jnz .bin_try
    or eax, 1
.bin_done:
    verdict "rtc binary mode"

    call pic_init
    mov al, 0xFB                    ; master: IRQ 2 (the slave) only
    out 0x21, al
    mov al, 0xFE                    ; slave: IRQ 8
    out 0xA1, al
    mov al, 0x0C
    call cmos_read                  ; clear flags that came before PIE
    mov al, 0x0A                    ; RS = 13: 8 Hz (at the BIOS's 1024 Hz a slow VMM, Python
    mov ah, 0x2D                    ; under Bochs, spends a period per handler: a storm)
    call cmos_write
    mov al, 0x0B                    ; PIE, 24 h, binary
    mov ah, 0x46
    call cmos_write
    sti
    mov ecx, 10000
.p_wait:                            ; HLT: the VMM wakes the guest at the RTC's deadline
    cmp dword [irq8_count], 3
    jae .p_got
    hlt
    dec ecx
    jnz .p_wait
.p_got:
    cli
    mov al, 0x0B
    mov ah, 0x06
    call cmos_write
    mov al, 0x0C
    call cmos_read
    cmp dword [irq8_count], 3
    jb .p_bad
    cmp byte [irq8_flags], 0xC0     ; IRQF and PF in register C
    jne .p_bad
    xor eax, eax
    jmp .p_done
.p_bad:
    or eax, 1
.p_done:
    verdict "rtc periodic interrupt on irq 8"

; -- 16550A: loopback (Linux's autoconfig probe) and THRE on IRQ 4 --------------
    mov dx, COM1 + 4
    mov al, 0x1F                    ; LOOP, OUT2, OUT1, RTS, DTR
    out dx, al
    mov dx, COM1 + 6
    in al, dx
    mov bl, al
    mov dx, COM1
    mov al, 0x5A
    out dx, al
    mov dx, COM1 + 5
    in al, dx
    test al, 0x01                   ; DR: the byte came back
    jz .loop_bad
    mov dx, COM1
    in al, dx
    cmp al, 0x5A
    jne .loop_bad
    and bl, 0xF0                    ; MSR: CTS, DSR, RI, DCD from RTS, DTR, OUT1, OUT2
    cmp bl, 0xF0
    jne .loop_bad
    xor eax, eax
    jmp .loop_done
.loop_bad:
    or eax, 1
.loop_done:
    pushf
    mov dx, COM1 + 4
    mov al, 0x08                    ; OUT2: the IRQ line driver on, loopback off
    out dx, al
    popf
    verdict "uart mcr loopback"
    mov al, 0xEB                    ; master: IRQ 2 and 4
    out 0x21, al
    sti
    mov dx, COM1 + 1
    mov al, 0x02                    ; ETBEI: THR is empty, so THRE at once
    out dx, al
    nop
    cli
    mov dx, COM1 + 1
    xor al, al
    out dx, al
    cmp byte [irq4_iir], 0x02       ; the handler read IIR = THRE
    verdict "uart thre interrupt on irq 4"

; -- ACPI: the RSDP by the 16-byte scan, the tables and their checksums ----------
    mov rsi, 0xE0000
.scan:
    mov rax, 'RSD PTR '
    cmp [rsi], rax
    je .rsdp_found
    add rsi, 16
    cmp rsi, 0x100000
    jb .scan
    xor esi, esi
.rsdp_found:
    mov [rsdp], rsi
    test rsi, rsi
    jnz .rsdp_have
    or eax, 1                       ; not found: ZF clear, BAD
    jmp .rsdp_bad
.rsdp_have:
    mov ecx, 20
    call checksum                   ; ACPI 1.0 part
    jnz .rsdp_bad
    mov rsi, [rsdp]
    mov ecx, [rsi + 20]             ; the whole revision-2 structure
    call checksum
.rsdp_bad:
    verdict "rsdp found by the scan, checksums"
    mov rsi, [rsdp]
    mov esi, [rsi + 16]
    mov [rsdt], rsi
    call sdt_ok
    verdict "rsdt checksum"
    mov rsi, [rsdp]
    mov rsi, [rsi + 24]
    call sdt_ok
    verdict "xsdt checksum"
    mov eax, 'FACP'
    call find_table
    mov [fadt], rsi
    test rsi, rsi
    jnz .fadt_have
    or eax, 1
    jmp .fadt_bad
.fadt_have:
    call sdt_ok
.fadt_bad:
    verdict "fadt found, checksum"
    mov eax, 'APIC'                 ; the MADT: there (valid) with the APICs, absent without
    call find_table
    test rsi, rsi
    jnz .madt_have
    cmp qword [PARAMS + 16], 0
    je .madt_done                   ; ZF set: ok
    or eax, 1
    jmp .madt_done
.madt_have:
    cmp qword [PARAMS + 16], 0
    je .madt_bad
    call sdt_ok
    jmp .madt_done
.madt_bad:
    or eax, 1
.madt_done:
    verdict "madt as the apics say, checksum"
    mov rsi, [fadt]                 ; PM_TMR_BLK (FADT offset 76)
    mov edx, [rsi + 76]
    in eax, dx
    mov ebx, eax
    mov ecx, 1000
.tmr:
    in eax, dx
    cmp eax, ebx
    jne .tmr_moved
    loop .tmr
.tmr_moved:
    sub eax, ebx
    and eax, 0xFFFFFF
    cmp eax, 0                      ; 24 bits, advanced
    je .tmr_bad
    cmp eax, 0x800000
    jae .tmr_bad
    xor eax, eax
    jmp .tmr_done
.tmr_bad:
    or eax, 1
.tmr_done:
    verdict "pm timer advances"

; -- fw_cfg: the signature and the RAM size -------------------------------------
    mov dx, 0x510
    xor eax, eax                    ; FW_CFG_SIGNATURE
    out dx, ax
    mov dx, 0x511
    mov ecx, 4
.sig:
    shl ebx, 8
    in al, dx
    mov bl, al
    loop .sig
    cmp ebx, 0x51454D55             ; "QEMU", first byte highest
    verdict "fw_cfg signature"
    mov dx, 0x510
    mov ax, 0x0003                  ; FW_CFG_RAM_SIZE, 64-bit little-endian
    out dx, ax
    mov dx, 0x511
    xor ebx, ebx
    mov ecx, 8
.ram:
    in al, dx
    movzx rax, al
    shl rax, 56
    shr rbx, 8
    or rbx, rax
    loop .ram
    cmp rbx, [PARAMS + 8]
    verdict "fw_cfg ram size"

; -- PCI mechanism #1: a scan of bus 0 finds the 440FX at 00:00.0 only -----------
    xor ebx, ebx                    ; devices found
    xor edi, edi                    ; device number
.pci:
    mov eax, edi
    shl eax, 11
    or eax, 0x80000000
    mov dx, 0xCF8
    out dx, eax
    mov dx, 0xCFC
    in eax, dx
    cmp eax, 0xFFFFFFFF
    je .pci_next
    inc ebx
    test edi, edi
    jnz .pci_next
    mov [pci_id], eax
.pci_next:
    inc edi
    cmp edi, 32
    jb .pci
    cmp ebx, 1
    jne .pci_bad
    cmp dword [pci_id], 0x12378086
.pci_bad:
    verdict "pci scan: 440fx only"

; -- the end, as PARAMS says ------------------------------------------------------
the_end:
    print "pc: bye", 10
    mov rax, [PARAMS]
    cmp rax, 1
    je .s5
    cmp rax, 2
    je .kbd
    cmp rax, 3
    je .cf9
    xor eax, eax
    out 0xF4, al
    jmp $
.s5:                                ; SLP_TYP from the DSDT's \_S5 package, SLP_EN
    mov rsi, [fadt]
    mov esi, [rsi + 40]             ; DSDT
    mov ecx, [rsi + 4]
.aml:
    cmp dword [rsi], '_S5_'
    je .aml_found
    inc rsi
    loop .aml
    jmp $
.aml_found:
    mov al, [rsi + 7]               ; NameOp _S5_ PackageOp PkgLength NumElements, then the value
    cmp al, 0x0A                    ; BytePrefix
    jne .typ
    mov al, [rsi + 8]
.typ:
    movzx eax, al
    shl eax, 10
    or eax, 0x2000                  ; SLP_EN
    mov rsi, [fadt]
    mov edx, [rsi + 64]             ; PM1a_CNT_BLK
    out dx, ax
    jmp $
.kbd:
    mov al, 0xFE                    ; pulse the output port's reset line
    out 0x64, al
    jmp $
.cf9:
    mov dx, 0xCF9
    mov al, 0x06                    ; SRST | RCPU
    out dx, al
    jmp $

PUTS

; latch2: channel 2's count in EAX (counter latch command, lo then hi).
latch2:
    mov al, 0x80
    out 0x43, al
    in al, 0x42
    mov ah, al
    in al, 0x42
    xchg al, ah
    movzx eax, ax
    ret

; next_update: wait for UIP to rise and fall (an update cycle); ZF set when seen.
next_update:
    mov ecx, SPIN
.rise:
    dec ecx
    jz .no
    mov al, 0x0A
    call cmos_read
    test al, 0x80
    jz .rise
.fall:
    dec ecx
    jz .no
    mov al, 0x0A
    call cmos_read
    test al, 0x80
    jnz .fall
    xor eax, eax
    ret
.no:
    or eax, 1
    ret

; cmos_read: register AL -> AL. cmos_write: register AL <- AH.
cmos_read:
    out 0x70, al
    in al, 0x71
    ret
cmos_write:
    out 0x70, al
    mov al, ah
    out 0x71, al
    ret

; pic_init: both 8259As, vectors 0x20 and 0x28, cascade on IR2, 8086 mode.
pic_init:
    mov al, 0x11
    out 0x20, al
    out 0xA0, al
    mov al, VEC_MASTER
    out 0x21, al
    mov al, VEC_SLAVE
    out 0xA1, al
    mov al, 0x04
    out 0x21, al
    mov al, 0x02
    out 0xA1, al
    mov al, 0x01
    out 0x21, al
    out 0xA1, al
    ret

; checksum: ZF set when the ECX bytes at RSI sum to 0 (mod 256).
checksum:
    xor eax, eax
.c:
    add al, [rsi]
    inc rsi
    loop .c
    test al, al
    ret

; sdt_ok: ZF set when the table at RSI (length at +4) sums to 0.
sdt_ok:
    mov ecx, [rsi + 4]
    cmp ecx, 36
    jb .no
    jmp checksum
.no:
    or eax, 1
    ret

; find_table: the RSDT entry whose signature is EAX, in RSI (0: none).
find_table:
    mov rdi, [rsdt]
    mov ecx, [rdi + 4]
    sub ecx, 36
    shr ecx, 2
    add rdi, 36
.f:
    test ecx, ecx
    jz .none
    mov esi, [rdi]
    cmp [rsi], eax
    je .done
    add rdi, 4
    dec ecx
    jmp .f
.none:
    xor esi, esi
.done:
    ret

; set_gate: 64-bit interrupt gate at [rdi] for handler rax (APM2 4.8.4).
set_gate:
    mov [rdi], ax
    mov word [rdi + 2], 0x08
    mov word [rdi + 4], 0x8E00
    shr rax, 16
    mov [rdi + 6], ax
    shr rax, 16
    mov [rdi + 8], eax
    mov dword [rdi + 12], 0
    ret

irq8:                               ; read register C (acknowledges), EOI both
    push rax
    mov al, 0x0C
    out 0x70, al
    in al, 0x71
    and al, 0xC0                    ; IRQF, PF (UF is set by every update too)
    mov [irq8_flags], al
    inc dword [irq8_count]
    mov al, 0x20
    out 0xA0, al
    out 0x20, al
    pop rax
    iretq
irq4:                               ; IIR says why (reading it clears THRE), EOI
    push rax
    push rdx
    mov dx, COM1 + 2
    in al, dx
    and al, 0x0F
    mov [irq4_iir], al
    mov al, 0x20
    out 0x20, al
    pop rdx
    pop rax
    iretq

bin_time:                           ; register, binary value: 2024-01-01 12:00:30
    db 0x00, 30, 0x02, 0, 0x04, 12, 0x07, 1, 0x08, 1, 0x09, 24, 0x32, 20, 0xFF, 0
bin_seen: db 0
irq8_count: dd 0
irq8_flags: db 0
irq4_iir: db 0xFF
align 8
rsdp: dq 0
rsdt: dq 0
fadt: dq 0
pci_id: dd 0
idtr:
    dw (VEC_SLAVE + 8) * 16 - 1
    dq idt
align 16
idt: times (VEC_SLAVE + 8) * 16 db 0
stack: times 1024 db 0
stack_top:
