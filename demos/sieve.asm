; A CPU-bound multiboot guest for the virtualization-efficiency benchmark
; (bench/sieve.py): ROUNDS sieves of Eratosthenes over the numbers below
; SIEVE_N, timed with RDTSC around the compute phase only. Prints the prime
; count and the TSC cycles over COM1 and ends through port 0xF4 with the
; number of failed checks; runs the same under mpvisor (hv.boot('sieve'))
; and under plain `qemu-system-x86_64 -kernel`. Flat binary at 1 MiB with
; the a.out-kludge fields; 32-bit protected mode, paging off, no interrupts.

bits 32
%include "lib.inc"
LOAD equ 0x100000
org LOAD
MB_FLAGS equ 1 << 16

header:
    dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
    dd header, LOAD, load_end, bss_end, start

; nasm -D overrides these (bench/sieve.py builds a small-array variant).
%ifndef SIEVE_N
  %define SIEVE_N 2000000            ; a multiple of 4
  %define PRIMES_BELOW_N 148933      ; pi(2,000,000)
%endif
%ifndef ROUNDS
  %define ROUNDS 120                 ; ~1.7 s under QEMU TCG on a 2.6 GHz host
%endif
%defstr SIEVE_N_STR SIEVE_N
%defstr ROUNDS_STR ROUNDS
%defstr PRIMES_STR PRIMES_BELOW_N
%strcat CHECK_TEXT "prime count below ", SIEVE_N_STR, " is ", PRIMES_STR
POST equ 0x80                        ; brackets the compute phase (the VMM ignores it)

start:
    mov esp, stack_top
    print "sieve: ", ROUNDS_STR, " rounds below ", SIEVE_N_STR, 13, 10
    out POST, al                     ; compute phase starts
    rdtsc
    mov [tsc0], eax
    mov [tsc0 + 4], edx
    mov ebp, ROUNDS
.round:
    call sieve
    dec ebp
    jnz .round
    rdtsc
    sub eax, [tsc0]
    sbb edx, [tsc0 + 4]
    mov [cycles], eax
    mov [cycles + 4], edx
    out POST, al                     ; compute phase ends
    mov [count], ebx
    print "primes: "
    mov eax, [count]
    call put_dec
    print 13, 10, "tsc cycles: 0x"
    mov eax, [cycles + 4]
    call put_hex
    mov eax, [cycles]
    call put_hex
    print 13, 10
    cmp dword [count], PRIMES_BELOW_N
    check CHECK_TEXT
    jmp finish

; sieve -- flags[i] = 1 for prime i < SIEVE_N; EBX = their number.
; Clobbers EAX, ECX, EDX, ESI, EDI.
sieve:
    mov edi, flags
    mov ecx, SIEVE_N / 4
    mov eax, 0x01010101
    rep stosd
    mov word [flags], 0              ; 0 and 1 are not prime
    mov esi, 2
.outer:
    mov eax, esi
    imul eax, esi                    ; i * i
    cmp eax, SIEVE_N
    jae .count
    cmp byte [flags + esi], 0
    je .next
.cross:
    mov byte [flags + eax], 0
    add eax, esi
    cmp eax, SIEVE_N
    jb .cross
.next:
    inc esi
    jmp .outer
.count:
    xor ebx, ebx
    xor ecx, ecx
.sum:
    movzx edx, byte [flags + ecx]
    add ebx, edx
    inc ecx
    cmp ecx, SIEVE_N
    jb .sum
    ret

; put_dec(eax) -- unsigned decimal
put_dec:
    push ebx
    push ecx
    push edx
    mov ebx, 10
    xor ecx, ecx
.divide:
    xor edx, edx
    div ebx
    push edx
    inc ecx
    test eax, eax
    jnz .divide
.digit:
    pop eax
    add al, '0'
    call putc
    loop .digit
    pop edx
    pop ecx
    pop ebx
    ret

lib

align 4
failures: dd 0
count: dd 0
tsc0: dq 0
cycles: dq 0
load_end:

absolute load_end
alignb 16
resb 4096
stack_top:
flags: resb SIEVE_N
bss_end:
