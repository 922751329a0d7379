; MMIO and string I/O test guest (tests/target/mmio_cases.py): every MMIO
; instruction form the emulator handles against a scratch register file the
; test registers at DEV (and a second one at LOWDEV, inside the range of
; guest RAM, for RIP-relative forms), REP INS/OUTS both directions against a
; loopback port, an unregistered address under the 'absent' policy; prints
; "<form> ok" or "<form> BAD" per check, then writes 0 to port 0xF4.
; Guest code: 64-bit, setup('long')'s identity map of the first GiB; it maps
; linear 3-4 GiB itself (uncached 2 MiB pages) to reach DEV.
bits 64
%include "common.inc"
org LOAD
%define DEV     0xFED00000          ; scratch registers, 4 KiB (the test's device)
%define LOWDEV  0x00F00000          ; the same, 15 MiB: in RAM's range, never RAM
%define NODEV   0xC0000000          ; nothing: reads all ones ('absent')
%define LOOP    0x700               ; loopback port: IN returns the bytes OUT gave
%define PD3     0x80000             ; a page directory for linear 3-4 GiB
%define BUF     0x90000             ; RAM buffers
%define BUF2    0x91000

start:
    mov rsp, stack_top
    mov rdi, PD3                    ; PDEs: P RW PWT PCD PS (SDM 3A 4.5, Table 4-17)
    mov rax, 0xC0000000 | 0x9B
    mov ecx, 512
.pde:
    mov [rdi], rax
    add rax, 0x200000
    add rdi, 8
    loop .pde
    mov rax, cr3
    and rax, -4096
    mov rax, [rax]                  ; PML4[0]: the PDPT
    and rax, -4096
    mov qword [rax + 3 * 8], PD3 | 3
    mov rax, cr3
    mov cr3, rax
    mov rbx, DEV

    mov dword [rbx], 0x11223344     ; MOV m32, imm32 / MOV r32, m32
    mov eax, [rbx]
    cmp eax, 0x11223344
    verdict "mov32"
    mov byte [rbx + 4], 0xAB        ; MOV m8, imm8 / MOVZX r32, m8
    movzx ecx, byte [rbx + 4]
    cmp ecx, 0xAB
    verdict "movzx8"
    mov word [rbx + 6], 0x8001      ; MOV m16, imm16 / MOVSX r64, m16
    movsx rdx, word [rbx + 6]
    cmp rdx, -32767
    verdict "movsx16"
    mov rax, 0x0123456789ABCDEF     ; MOV m64, r64 / MOV r64, m64 (REX.W)
    mov [rbx + 8], rax
    mov r11, [rbx + 8]              ; REX.R
    cmp r11, rax
    verdict "mov64"
    mov dword [rbx + 0x10], 0x80000000
    movsxd r12, dword [rbx + 0x10]  ; MOVSXD
    mov rax, 0xFFFFFFFF80000000
    cmp r12, rax
    verdict "movsxd"
    mov ecx, 2                      ; SIB with displacement
    mov dword [rbx + rcx * 4 + 0x20], 0x55
    mov eax, [rbx + 0x28]
    cmp eax, 0x55
    verdict "sib"
    mov r9, rbx                     ; REX.B base, REX.X index
    mov r10, 3
    mov [r9 + r10 * 8 + 0x40], r10w
    mov ax, [rbx + 0x58]
    cmp ax, 3
    verdict "rex base index"
    mov eax, [qword DEV]            ; MOV EAX, moffs64
    cmp eax, 0x11223344
    verdict "moffs"
    mov byte [rbx + 0x60], 0x5A     ; AH (no REX)
    mov ah, [rbx + 0x60]
    cmp ah, 0x5A
    verdict "ah"
    mov dword [rel $$ + LOWDEV - LOAD + 0x10], 0x77     ; RIP-relative
    mov eax, [rel $$ + LOWDEV - LOAD + 0x10]
    cmp eax, 0x77
    verdict "rip-relative"

    mov dword [rbx + 0x30], 0xFF    ; the ALU group on memory
    or dword [rbx + 0x30], 0x100
    and dword [rbx + 0x30], 0x1F0
    xor dword [rbx + 0x30], 0x10
    cmp dword [rbx + 0x30], 0x1E0
    verdict "or and xor cmp"
    mov word [rbx + 0x34], 0xFFFF
    add word [rbx + 0x34], 1        ; CF and ZF from the emulated ADD
    jnc .add_bad
    cmp word [rbx + 0x34], 0
.add_bad:
    verdict "add flags"
    mov dword [rbx + 0x38], 5
    mov ecx, 9
    xchg [rbx + 0x38], ecx
    cmp ecx, 5
    jne .xchg
    cmp dword [rbx + 0x38], 9
.xchg:
    verdict "xchg"
    mov byte [rbx + 0x3C], 0x80
    test byte [rbx + 0x3C], 0x80
    setz al
    test al, al
    verdict "test"
    lock or dword [rbx + 0x30], 1
    cmp dword [rbx + 0x30], 0x1E1
    verdict "lock or"
    mov r8d, 0x0F0F
    and [rbx + 0x30], r8d           ; ALU m, r
    mov eax, 0x0FF
    sub eax, [rbx + 0x30]           ; ALU r, m: 0xFF - 0x1E1 & 0xF0F
    cmp eax, 0x0FF - 0x101
    verdict "alu register forms"

    cld                             ; string forms between RAM and the device
    lea rsi, [rel pattern]
    lea rdi, [rbx + 0x100]
    mov ecx, 4
    rep movsd
    mov eax, [rbx + 0x10C]
    cmp eax, 0x0F0E0D0C
    verdict "rep movsd to device"
    std
    lea rsi, [rbx + 0x10F]
    mov rdi, BUF + 15
    mov ecx, 16
    rep movsb
    cld
    lea rsi, [rel pattern]
    mov rdi, BUF
    mov ecx, 16
    repe cmpsb
    verdict "rep movsb from device, DF=1"
    mov eax, 0xCAFE
    lea rdi, [rbx + 0x200]
    mov ecx, 3
    rep stosw
    lea rsi, [rbx + 0x204]
    lodsw
    cmp ax, 0xCAFE
    jne .stos
    mov rax, DEV + 0x206
    cmp rdi, rax
.stos:
    verdict "rep stosw, lodsw"

    mov dx, LOOP                    ; string I/O through the loopback port
    lea rsi, [rel pattern]
    mov ecx, 4
    rep outsw
    mov rdi, BUF2
    mov ecx, 8
    rep insb
    lea rsi, [rel pattern]
    mov rdi, BUF2
    mov ecx, 8
    repe cmpsb
    verdict "rep outsw, rep insb"
    mov dx, LOOP                    ; (print clobbers DX)
    lea rsi, [rel pattern]
    mov ecx, 2
    rep outsd
    std
    mov rdi, BUF2 + 0x104
    mov ecx, 2
    rep insd                        ; DF=1: the second dword lands first
    cld
    mov eax, [BUF2 + 0x100]
    cmp eax, 0x07060504
    jne .insd
    cmp dword [BUF2 + 0x104], 0x03020100
.insd:
    verdict "rep outsd, rep insd, DF=1"
    mov dx, LOOP
    mov rdi, 0xFFFFFFFF00000000 | (BUF2 + 0x200)
    mov al, 0x42
    out dx, al
    a32 insb                        ; 32-bit address size: EDI, RDI zero-extended
    mov rax, BUF2 + 0x201
    cmp rdi, rax
    jne .a32
    cmp byte [BUF2 + 0x200], 0x42
.a32:
    verdict "insb a32"
    mov ecx, 0xC0000100             ; IA32_FS_BASE (SDM 4 Table 2-2): the guest's own
    mov eax, BUF
    xor edx, edx
    wrmsr
    mov dx, LOOP
    mov esi, 3
    fs outsb                        ; segment override: FS:RSI = BUF + 3
    in al, dx
    cmp al, 3
    verdict "outsb fs"

    mov edi, NODEV                  ; no device there: vm.run answers all ones
    mov eax, [rdi]
    cmp eax, 0xFFFFFFFF
    verdict "absent read"
    mov dword [rdi + 4], 1          ; ... and drops writes

    print "mmio: bye", 10
    mov al, 0
    out 0xF4, al
    hlt

pattern:
    db 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15

    PUTS
    align 16
    times 256 db 0
stack_top:
