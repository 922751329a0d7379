; uint64_t svm_run(uint64_t vmcb_pa, uint64_t *gprs, uint64_t host_area_pa);
; The SVM world switch: runs the guest of one VMCB until its next #VMEXIT.
; Runs in 64-bit ring 0 (SVM host, EFER.SVME = 1, VM_HSAVE_PA set), called
; from port/modsvm.c with interrupts enabled.
;
; gprs: 16 x u64 in opcode order RAX RCX RDX RBX RSP RBP RSI RDI R8..R15,
; the register file shared with the VMX trampoline. Guest RAX and RSP live in
; the VMCB (APM2 15.5.1, Table B-2), so slots 0 and 4 are neither loaded
; nor stored here. host_area_pa: a 4 KiB frame for VMSAVE/VMLOAD of the host's
; FS, GS, TR, LDTR, KernelGSBase, STAR/LSTAR/CSTAR/SFMASK and SYSENTER MSRs,
; which VMRUN and #VMEXIT do not switch (APM2 15.5.2, 15.5.3: only RAX, RSP,
; RIP, RFLAGS, CR0/3/4, EFER, GDTR, IDTR and ES/CS/SS/DS are the host's).
;
; Returns the VMCB EXITCODE (offset 0x70, APM2 Table B-1).
; Clobbers: RAX, RCX, RDX, RSI, RDI, R8-R11 (caller-saved, SysV ABI) and
; RFLAGS.IF: it returns with interrupts disabled and GIF = 1, so the caller
; can look at a pending physical interrupt before the host takes it.
; Manual: AMD APM Vol. 2 15.5 (VMRUN), 15.5.2 (#VMEXIT), 15.17 (GIF, CLGI,
; STGI), 15.21.1 (V_INTR_MASKING: host RFLAGS.IF gates physical interrupts
; while the guest runs), 15.5.2 and 15.28 (VMLOAD/VMSAVE).

%define VMCB_EXITCODE 0x70

global svm_run

section .text
bits 64

svm_run:
    push rbp                    ; callee-saved (SysV ABI): the guest
    push rbx                    ; overwrites all of these
    push r12
    push r13
    push r14
    push r15
    push rdx                    ; [rsp + 16]: host_area_pa
    push rsi                    ; [rsp + 8]: gprs
    push rdi                    ; [rsp + 0]: vmcb_pa
    clgi                        ; GIF = 0: no interrupt, NMI or SMI from here
    sti                         ; host IF = 1, so that while the guest runs a
                                ; physical interrupt causes #VMEXIT(INTR)
                                ; (15.21.1); with GIF = 0 none is taken now
    mov rax, rdx
    vmsave                      ; host FS/GS/TR/LDTR/... -> host area (RAX = PA)
    mov rax, rdi
    vmload                      ; the same state of the guest, from its VMCB
    mov rcx, [rsi + 1 * 8]      ; guest GPRs from the register file;
    mov rdx, [rsi + 2 * 8]      ; RAX and RSP come from the VMCB
    mov rbx, [rsi + 3 * 8]
    mov rbp, [rsi + 5 * 8]
    mov rdi, [rsi + 7 * 8]
    mov r8,  [rsi + 8 * 8]
    mov r9,  [rsi + 9 * 8]
    mov r10, [rsi + 10 * 8]
    mov r11, [rsi + 11 * 8]
    mov r12, [rsi + 12 * 8]
    mov r13, [rsi + 13 * 8]
    mov r14, [rsi + 14 * 8]
    mov r15, [rsi + 15 * 8]
    mov rsi, [rsi + 6 * 8]      ; last: RSI was the pointer
    vmrun                       ; RAX = VMCB PA; saves host state to
                                ; VM_HSAVE_PA, runs the guest, sets GIF = 1
    ; #VMEXIT (15.5.2): GIF = 0, RAX/RSP/RIP are the host's again (RAX =
    ; vmcb_pa), every other GPR still holds the guest's value.
    vmsave                      ; guest FS/GS/TR/... -> its VMCB (RAX = PA)
    xchg rsi, [rsp + 8]         ; RSI = gprs; guest RSI parked on the stack
    mov [rsi + 1 * 8], rcx
    mov [rsi + 2 * 8], rdx
    mov [rsi + 3 * 8], rbx
    mov [rsi + 5 * 8], rbp
    mov [rsi + 7 * 8], rdi
    mov [rsi + 8 * 8], r8
    mov [rsi + 9 * 8], r9
    mov [rsi + 10 * 8], r10
    mov [rsi + 11 * 8], r11
    mov [rsi + 12 * 8], r12
    mov [rsi + 13 * 8], r13
    mov [rsi + 14 * 8], r14
    mov [rsi + 15 * 8], r15
    mov rcx, [rsp + 8]          ; guest RSI
    mov [rsi + 6 * 8], rcx
    mov rax, [rsp + 16]
    vmload                      ; host FS base (the C stack guard), GS, TR, ...
    cli                         ; keep the pending interrupt for the caller...
    stgi                        ; ...while GIF = 1 again lets NMIs through
    pop rdi                     ; vmcb_pa
    mov rax, [rdi + VMCB_EXITCODE]
    add rsp, 16                 ; drop gprs and host_area_pa
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret
