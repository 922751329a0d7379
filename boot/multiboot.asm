; Multiboot v1 header (Multiboot Specification 0.6.96, section 3.1).
; Runs nowhere: it is data the loader (GRUB or QEMU -kernel) reads.
; The a.out-kludge address fields (flag bit 16) let both loaders take this
; ELF64 file by address; QEMU refuses a plain ELF64 (FACTS.md).

MB_MAGIC        equ 0x1BADB002
MB_PAGE_ALIGN   equ 1 << 0          ; modules on 4 KiB boundaries
MB_MEMORY_INFO  equ 1 << 1          ; mem_lower/upper and the memory map
MB_ADDRESSES    equ 1 << 16         ; header_addr..entry_addr below are valid
MB_FLAGS        equ MB_PAGE_ALIGN | MB_MEMORY_INFO | MB_ADDRESSES

extern __load_start, __load_end, __bss_end, boot_entry32

section .multiboot
align 4
multiboot_header:
    dd MB_MAGIC
    dd MB_FLAGS
    dd (-(MB_MAGIC + MB_FLAGS)) & 0xFFFFFFFF
    dd multiboot_header         ; header_addr: where this header is loaded
    dd __load_start             ; load_addr: first byte of the text segment
    dd __load_end               ; load_end_addr: end of initialised data
    dd __bss_end                ; bss_end_addr: the loader zeroes up to here
    dd boot_entry32             ; entry_addr
