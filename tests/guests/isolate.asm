; 64-bit isolation probe guest (tests/target/isolation_cases.py). Guest code:
; starts at LOAD in 64-bit mode on the identity tables of vCPU setup('long')
; and adds a movable window at linear 512 GiB (PML4 slot 1) that maps any
; guest-physical address with one 1 GiB page (CPUID 0x80000001 EDX[26]) or
; else one 2 MiB page. PARAMS (written by the test) picks the operation:
;   1: read every page of RAM (pages from RAM_LO hold gpa ^ KEY, checked),
;      then probe mem_size, 2^k for 12 <= k < MAXPHYADDR (CPUID 0x80000008
;      EAX[7:0] as this guest sees it), 2^MAXPHYADDR - 8 and the test's
;      extra addresses: each is read and the value written back. The load
;      and the store run with R15 = their address and R14 = the next
;      instruction's, so a VMM can check a NestedPageFault came from the
;      probe and resume at R14 with a marker in RAX.
;   2: fill [RAM_LO, mem_size) with FILL;  3: count its non-zero qwords.
; Ends with HLT; results at RESULTS.
bits 64
%include "common.inc"
org LOAD

%define PARAMS      0x18000
%define P_OP        (PARAMS + 0)
%define P_MEM       (PARAMS + 8)
%define P_NEXTRA    (PARAMS + 16)
%define P_EXTRA     (PARAMS + 24)       ; up to 64 addresses
%define RESULTS     0x19000
%define R_MAXPHY    (RESULTS + 0)
%define R_GIB       (RESULTS + 8)
%define R_BAD       (RESULTS + 16)      ; pattern pages that read wrong
%define R_FIRSTBAD  (RESULTS + 24)
%define R_NPROBES   (RESULTS + 32)
%define R_NONZERO   (RESULTS + 40)
%define R_PAGES     (RESULTS + 48)      ; RAM pages read
%define R_ADDRS     (RESULTS + 0x100)   ; probe i's address
%define R_VALUES    (RESULTS + 0x900)   ; what probe i's load returned
%define PDPT_W      0x1B000             ; the window's tables
%define PD_W        0x1C000
%define STACK_TOP   0x1F000
%define RAM_LO      0x20000
%define KEY         0x5AFEC0DE00000000
%define FILL        0xC5C5C5C5C5C5C5C5
%define PTE_P_RW    3
%define PTE_P_RW_PS 0x83

start:
    mov rsp, STACK_TOP
    mov eax, 0x80000000             ; MAXPHYADDR: 36 without leaf 0x80000008
    cpuid
    mov r12d, 36
    cmp eax, 0x80000008
    jb .phys
    mov eax, 0x80000008
    cpuid
    movzx r12d, al
.phys:
    mov [R_MAXPHY], r12
    mov eax, 0x80000001             ; 1 GiB pages
    cpuid
    xor r13d, r13d
    bt edx, 26
    setc r13b
    mov [R_GIB], r13
    mov rax, cr3                    ; PML4[1] -> PDPT_W (-> PD_W for 2 MiB)
    and rax, -4096
    mov qword [rax + 8], PDPT_W | PTE_P_RW
    test r13, r13
    jnz .gib
    mov qword [PDPT_W], PD_W | PTE_P_RW
.gib:
    mov rax, cr3
    mov cr3, rax
    mov rax, [P_OP]
    cmp rax, 2
    je fill
    cmp rax, 3
    je count

    call check_ram
    xor edi, edi
    mov rbx, [P_MEM]                ; the first page beyond RAM
    call probe
    mov ecx, 12
.pow:
    cmp ecx, r12d
    jae .top
    mov ebx, 1
    shl rbx, cl
    push rcx
    call probe
    pop rcx
    inc ecx
    jmp .pow
.top:
    mov ebx, 1                      ; the last qword below 2^MAXPHYADDR
    mov ecx, r12d
    shl rbx, cl
    sub rbx, 8
    call probe
    mov rcx, [P_NEXTRA]
    mov edx, P_EXTRA
.extra:
    test rcx, rcx
    jz .done
    mov rbx, [rdx]
    push rcx
    push rdx
    call probe
    pop rdx
    pop rcx
    add rdx, 8
    dec rcx
    jmp .extra
.done:
    mov [R_NPROBES], rdi
    hlt
    jmp $

; check_ram: every page of [0, mem_size) read through the window; pages
; from RAM_LO must hold gpa ^ KEY in their first qword.
check_ram:
    xor ebx, ebx
    xor r8d, r8d                    ; mismatches
    mov r9, -1                      ; first mismatch
    xor r10d, r10d                  ; pages read
    mov r11, KEY
.page:
    cmp rbx, [P_MEM]
    jae .end
    call map_window
    mov rax, [rsi]
    inc r10
    cmp rbx, RAM_LO
    jb .next
    mov rdx, rbx
    xor rdx, r11
    cmp rax, rdx
    je .next
    inc r8
    cmp r9, -1
    jne .next
    mov r9, rbx
.next:
    add rbx, 4096
    jmp .page
.end:
    mov [R_BAD], r8
    mov [R_FIRSTBAD], r9
    mov [R_PAGES], r10
    ret

; probe: read [RBX] (guest-physical) through the window, note the value,
; write it back. Probe RDI; RDI + 1 on return. Clobbers RAX, RSI, R14, R15.
probe:
    mov [R_ADDRS + rdi * 8], rbx
    call map_window
    xor eax, eax
    lea r15, [rel .load]
    lea r14, [rel .loaded]
.load:
    mov rax, [rsi]
.loaded:
    mov [R_VALUES + rdi * 8], rax
    lea r15, [rel .store]
    lea r14, [rel .stored]
.store:
    mov [rsi], rax
.stored:
    inc rdi
    ret

; map_window: RSI := the window's linear address of guest-physical RBX.
map_window:
    mov rax, rbx
    test r13, r13
    jz .two
    and rax, -(1 << 30)
    or rax, PTE_P_RW_PS
    mov [PDPT_W], rax
    mov esi, ebx
    and esi, (1 << 30) - 1
    jmp .set
.two:
    and rax, -(1 << 21)
    or rax, PTE_P_RW_PS
    mov [PD_W], rax
    mov esi, ebx
    and esi, (1 << 21) - 1
.set:
    mov rax, 1 << 39
    add rsi, rax
    invlpg [rsi]
    ret

fill:
    mov rdi, RAM_LO
    mov rcx, [P_MEM]
    sub rcx, rdi
    shr rcx, 3
    mov rax, FILL
    rep stosq
    hlt
    jmp $

count:
    mov rsi, RAM_LO
    mov rcx, [P_MEM]
    xor edx, edx
.c:
    cmp rsi, rcx
    jae .end
    cmp qword [rsi], 0
    je .z
    inc rdx
.z:
    add rsi, 8
    jmp .c
.end:
    mov [R_NONZERO], rdx
    hlt
    jmp $

%if $ - $$ > PARAMS - LOAD
  %error "isolate.asm code runs into PARAMS"
%endif
