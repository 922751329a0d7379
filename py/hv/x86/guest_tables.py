# Descriptor and page tables the hypervisor writes into guest memory for
# vCPU setup('protected') and setup('long'): a flat GDT and an identity map
# with 2 MiB pages (APM2 4.8 descriptors, 5.3 long-mode paging).
# Arch-neutral; runs on the bare-metal port and on CPython (host tests).
import struct
from micropython import const
from hv.x86.bits import CR0_ET, CR0_NE, CR0_PE, CR0_PG, CR0_WP, CR4_PAE, EFER_LMA, EFER_LME, EFER_NXE

TABLES_GPA = const(0x1000)          # default: GDT, PML4, PDPT, PDs from here
SEL_CODE = const(0x08)              # code segment of the mode (32- or 64-bit)
SEL_DATA = const(0x10)              # flat read/write data: the one after the code
LINUX_BOOT_CS = const(0x10)         # __BOOT_CS; __BOOT_DS = 0x18 (Linux boot.rst, 32/64-bit protocol)
_PTE_P = const(1 << 0)
_PTE_RW = const(1 << 1)
_PTE_PS = const(1 << 7)
_GIB = const(1 << 30)
MAX_GIB = const(4)


def descriptor(base, limit, attr):
    """8-byte segment descriptor from base, raw 20-bit limit and the VMCB
    attribute word (descriptor bits 47:40 and 55:52, APM2 Table B-2)."""
    return ((limit & 0xFFFF) | (base & 0xFFFFFF) << 16 | (attr & 0xFF) << 40
            | ((limit >> 16) & 0xF) << 48 | ((attr >> 8) & 0xF) << 52
            | ((base >> 24) & 0xFF) << 56)


def gdt(code_attr, data_attr, code_sel=SEL_CODE):
    """Null descriptors, then flat code at selector code_sel and flat data
    right after it (code_sel + 8), page-granular 4 GiB; within one page."""
    if code_sel < 8 or code_sel & 7 or code_sel + 16 > 0x1000:
        raise ValueError("code selector %#x is not a GDT slot in 0x08-0xFF0" % code_sel)
    return bytes(code_sel) + struct.pack("<2Q", descriptor(0, 0xFFFFF, code_attr),
                                         descriptor(0, 0xFFFFF, data_attr))


def gdt_limit(code_sel=SEL_CODE):
    """GDTR.limit of gdt(..., code_sel)."""
    return code_sel + 2 * 8 - 1


def identity_map_size(mem_size):
    """GiB the long-mode identity map covers: guest RAM, at least 1, at most 4."""
    n = (mem_size + _GIB - 1) // _GIB
    return max(1, min(n, MAX_GIB))


def long_mode_tables(base, mem_size):
    """[(gpa, bytes)] of a PML4 at base + 0x1000, a PDPT at base + 0x2000
    and one page directory per GiB after it; returns (pieces, cr3)."""
    pml4, pdpt = base + 0x1000, base + 0x2000
    gib = identity_map_size(mem_size)
    pieces = [(pml4, struct.pack("<Q", pdpt | _PTE_P | _PTE_RW))]
    pdpt_entries = bytearray(8 * gib)
    for g in range(gib):
        pd = pdpt + 0x1000 * (g + 1)
        struct.pack_into("<Q", pdpt_entries, 8 * g, pd | _PTE_P | _PTE_RW)
        table = bytearray(4096)
        for i in range(512):
            struct.pack_into("<Q", table, 8 * i, (g * _GIB + (i << 21)) | _PTE_P | _PTE_RW | _PTE_PS)
        pieces.append((pd, bytes(table)))
    pieces.append((pdpt, bytes(pdpt_entries)))
    return pieces, pml4


def tables_end(base, mode, mem_size):
    """First guest-physical byte after what setup(mode) writes at base."""
    if mode == "long":
        return base + 0x3000 + 0x1000 * identity_map_size(mem_size)
    return base + 0x1000 if mode == "protected" else base


def real_mode_entry(gpa):
    """(CS selector, IP) that reach gpa in real mode with IP below 64 KiB
    (x86_vcpu's entry); ValueError above 1 MiB. CS.base = selector << 4
    (SDM 3A 20.1.1)."""
    if gpa >= 0x100000:
        raise ValueError("real-mode entry %#x is above 1 MiB" % gpa)
    sel = (gpa >> 4) & 0xF000
    return sel, gpa - (sel << 4)


def mode_control_regs(vm, mode, tables):
    """(cr0, cr3, cr4, efer) a guest starts `mode` with ('real', 'protected'
    or 'long': PE, and for long mode PG, WP, PAE, LME, LMA and NXE over the
    identity map long_mode_tables() writes into vm at tables; SDM 3A 10.8.5)."""
    cr0, cr3, cr4, efer = CR0_ET | CR0_NE, 0, 0, 0
    if mode != "real":
        cr0 |= CR0_PE
    if mode == "long":
        pieces, cr3 = long_mode_tables(tables, vm.mem_size)
        for gpa, data in pieces:
            vm.write(gpa, data)
        cr0 |= CR0_PG | CR0_WP
        cr4 = CR4_PAE
        efer = EFER_LME | EFER_LMA | EFER_NXE
    return cr0, cr3, cr4, efer
