; int vmx_run(uint64_t *gprs, int launched);
; The VMX world switch: enters the guest of the current VMCS with VMLAUNCH
; (launched == 0) or VMRESUME, and comes back at vmx_exit on its next VM exit.
; Runs in 64-bit ring 0, VMX root operation, called from port/modvmx.c with
; interrupts disabled (a VM exit leaves RFLAGS = 2 anyway, SDM 3C 28.5.3).
;
; gprs: 16 x u64 in opcode order RAX RCX RDX RBX RSP RBP RSI RDI R8..R15, the
; register file shared with the SVM trampoline (py/hv/x86/regs.py), then slot
; 16: the guest's CR2. Guest RSP lives in the VMCS (GUEST_RSP, SDM 3C
; 25.4.1), so slot 4 is neither loaded nor stored; VM entry and VM exit
; switch no other GPR (SDM 3C 28.5: only RSP and RIP are loaded from the
; host-state area), so this does. Nor CR2, which the guest-state area does
; not hold (25.4.1): loaded before the entry when it differs from the host's
; and saved after the exit, as KVM's vmx_vcpu_run does, so that a host page
; fault between two entries (a Python handler's) does not reach the guest.
;
; Returns 0 after a VM exit (the caller reads VM_EXIT_REASON, which may be
; a failed entry with bit 31 set, SDM 3C 27.7), 1 on VMfailInvalid (CF = 1:
; no current VMCS) and 2 on VMfailValid (ZF = 1: the VM-instruction error
; field says why), SDM 3C 31.2 and 31.4.
; Clobbers: RAX, RCX, RDX, RSI, RDI, R8-R11 (caller-saved, SysV ABI),
; RFLAGS and CR2. Host FS/GS base, CR0/3/4, GDTR/IDTR bases, TR and the selectors
; come back from the host-state area Python filled (SDM 3C 28.5.1-28.5.2);
; GDTR and IDTR limits come back as 0xFFFF (28.5.2), which the port's
; 256-entry IDT and small GDT tolerate.
; Manual (Intel SDM Vol. 3C, 2023+ chapter numbering): 27 (VM entries), 28
; (VM exits), 31 (VMLAUNCH/VMRESUME, VMWRITE), 25.4-25.5 (guest/host state).

%define HOST_RSP 0x6C14         ; SDM 3C Appendix B.4.4, Table B-15
%define HOST_RIP 0x6C16

global vmx_run

section .text
bits 64

vmx_run:
    push rbp                    ; callee-saved (SysV ABI): the guest
    push rbx                    ; overwrites all of these
    push r12
    push r13
    push r14
    push r15
    push rdi                    ; [rsp]: gprs, found again by vmx_exit
    mov edx, HOST_RSP
    vmwrite rdx, rsp            ; the exit resumes on this very stack
    jbe .fail                   ; CF or ZF: VMfailInvalid / VMfailValid
    mov edx, HOST_RIP
    lea rax, [rel vmx_exit]
    vmwrite rdx, rax            ; ... at vmx_exit
    jbe .fail
    mov rax, [rdi + 16 * 8]     ; the guest's CR2, written only when it
    mov rdx, cr2                ; differs from the host's: MOV to CR2 is
    cmp rax, rdx                ; serializing (SDM 3A, "Serializing
    je .cr2_loaded              ; Instructions") and slow
    mov cr2, rax
.cr2_loaded:
    test esi, esi               ; ZF = !launched; the MOVs below keep flags
    mov rax, [rdi + 0 * 8]      ; guest GPRs from the register file
    mov rcx, [rdi + 1 * 8]
    mov rdx, [rdi + 2 * 8]
    mov rbx, [rdi + 3 * 8]
    mov rbp, [rdi + 5 * 8]      ; slot 4 (RSP) is GUEST_RSP in the VMCS
    mov rsi, [rdi + 6 * 8]
    mov r8,  [rdi + 8 * 8]
    mov r9,  [rdi + 9 * 8]
    mov r10, [rdi + 10 * 8]
    mov r11, [rdi + 11 * 8]
    mov r12, [rdi + 12 * 8]
    mov r13, [rdi + 13 * 8]
    mov r14, [rdi + 14 * 8]
    mov r15, [rdi + 15 * 8]
    mov rdi, [rdi + 7 * 8]      ; last: RDI was the pointer
    jnz .resume
    vmlaunch                    ; clear VMCS: launch (SDM 3C 31, VMLAUNCH)
    jmp .fail                   ; falls through only on VMfail
.resume:
    vmresume                    ; launched VMCS: resume
.fail:
    ; VMfail (SDM 3C 31.2): CF = 1 VMfailInvalid, else ZF = 1 VMfailValid.
    ; The GPRs may hold guest values; the callee-saved ones are popped below.
    mov eax, 2                  ; MOV keeps the flags of the failed instruction
    mov edx, 1
    cmovc eax, edx
    jmp vmx_return

vmx_exit:
    ; VM exit (SDM 3C 28.5): RSP = HOST_RSP (pointing at gprs), RIP here,
    ; RFLAGS = 2; every GPR but RSP still holds the guest's value.
    push rdi                    ; guest RDI, until RDI is free
    mov rdi, [rsp + 8]          ; gprs
    mov [rdi + 0 * 8], rax
    mov [rdi + 1 * 8], rcx
    mov [rdi + 2 * 8], rdx
    mov [rdi + 3 * 8], rbx
    mov [rdi + 5 * 8], rbp
    mov [rdi + 6 * 8], rsi
    mov [rdi + 8 * 8], r8
    mov [rdi + 9 * 8], r9
    mov [rdi + 10 * 8], r10
    mov [rdi + 11 * 8], r11
    mov [rdi + 12 * 8], r12
    mov [rdi + 13 * 8], r13
    mov [rdi + 14 * 8], r14
    mov [rdi + 15 * 8], r15
    pop qword [rdi + 7 * 8]     ; guest RDI
    mov rax, cr2                ; the guest's CR2, before host code can fault
    mov [rdi + 16 * 8], rax
    xor eax, eax                ; 0: a VM exit happened
vmx_return:
    add rsp, 8                  ; drop gprs
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret
