# Guest linear -> guest physical translation through the guest's own page
# tables (APM2 5.2-5.3: legacy 2-level, PAE 3-level, long-mode 4-level), for
# fetching the instruction behind an exit. No permission checks: the guest
# already fetched it. Pure Python; runs on the bare-metal port and CPython.
from micropython import const

_CR0_PG = const(1 << 31)
_CR4_PSE = const(1 << 4)
_CR4_PAE = const(1 << 5)
_CR4_LA57 = const(1 << 12)
_EFER_LMA = const(1 << 10)
_P = const(1 << 0)
_PS = const(1 << 7)
_ADDR = const(0x000FFFFFFFFFF000)


def translate(linear, cr0, cr3, cr4, efer, read64):
    """Guest-physical address of linear, or -1 when a level is not present.
    read64(gpa) reads guest-physical memory."""
    if not cr0 & _CR0_PG:
        return linear
    if efer & _EFER_LMA:
        if cr4 & _CR4_LA57:
            raise NotImplementedError("5-level guest paging")
        t = cr3 & _ADDR
        for shift in (39, 30, 21, 12):
            e = read64(t + ((linear >> shift) & 511) * 8)
            if not e & _P:
                return -1
            if shift != 39 and shift != 12 and e & _PS:
                size = 1 << shift
                return (e & _ADDR & ~(size - 1)) | (linear & (size - 1))
            t = e & _ADDR
        return t | (linear & 0xFFF)
    if cr4 & _CR4_PAE:                      # 3 levels, the PDPTEs at CR3[31:5]
        e = read64((cr3 & 0xFFFFFFE0) + ((linear >> 30) & 3) * 8)
        if not e & _P:
            return -1
        t = e & _ADDR
        for shift in (21, 12):
            e = read64(t + ((linear >> shift) & 511) * 8)
            if not e & _P:
                return -1
            if shift == 21 and e & _PS:
                return (e & _ADDR & ~0x1FFFFF) | (linear & 0x1FFFFF)
            t = e & _ADDR
        return t | (linear & 0xFFF)
    e = read64((cr3 & 0xFFFFF000) + ((linear >> 22) & 1023) * 4) & 0xFFFFFFFF
    if not e & _P:
        return -1
    if e & _PS and cr4 & _CR4_PSE:          # 4 MiB page (PSE-36 bits 20:13 ignored)
        return (e & 0xFFC00000) | (linear & 0x3FFFFF)
    e = read64((e & 0xFFFFF000) + ((linear >> 12) & 1023) * 4) & 0xFFFFFFFF
    if not e & _P:
        return -1
    return (e & 0xFFFFF000) | (linear & 0xFFF)
