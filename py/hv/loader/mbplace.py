# Where a multiboot (v1) loader puts what it adds to the kernel in guest RAM
# (Multiboot Specification 0.6.96, 3.3): the information structure with its
# memory map and strings, and the boot modules, page-aligned, in RAM the
# kernel's segments (bss included) do not occupy. Pure; bare metal and CPython.
from micropython import const
from hv.loader import mbinfo
from hv.loader.mbload import HIGH_RAM_START, INFO_BASE, ImageError
from hv.x86.guest_tables import TABLES_GPA, tables_end

_PAGE = const(0x1000)
_INFO_ALIGN = const(8)          # the memory map's 64-bit fields aligned
_LIMIT32 = const(1 << 32)       # mods_addr, mod_start, ... are 32-bit (3.3)


def _text(text, what):
    # A command line as the NUL-terminated bytes 3.3 describes.
    if isinstance(text, str):
        text = text.encode()
    else:
        try:
            text = bytes(memoryview(text))
        except TypeError:
            raise ImageError("%s is a %s, not a str" % (what, type(text).__name__))
    if b"\0" in text:
        raise ImageError("%s contains a NUL byte" % what)
    return text


def check_modules(modules):
    """[(size, cmdline bytes)] of modules [(bytes-like, cmdline)];
    ImageError names the first that is not such a pair."""
    out = []
    for i, m in enumerate(modules):
        if not isinstance(m, (tuple, list)) or len(m) != 2:
            raise ImageError("module %d is not a (bytes, cmdline) pair" % i)
        try:
            if isinstance(m[0], str):       # MicroPython's str has the buffer protocol
                raise TypeError
            size = len(memoryview(m[0]))
        except TypeError:
            raise ImageError("module %d is a %s, not bytes-like" % (i, type(m[0]).__name__))
        out.append((size, _text(m[1], "module %d's command line" % i)))
    return out


def free_ram(mem_size, used):
    """Sorted (start, end) ranges of available RAM below 4 GiB and mem_size
    that no (start, end) of `used` touches; page 0 and the GDT vCPU
    setup('protected') writes at TABLES_GPA are never free."""
    free = [(b, min(b + n, mem_size, _LIMIT32)) for b, n, t in mbinfo.memory_map(mem_size)
            if t == mbinfo.AVAILABLE]
    for s, e in [(0, tables_end(TABLES_GPA, "protected", mem_size))] + list(used):
        free = [p for a, b in free for p in ((a, min(b, s)), (max(a, e), b)) if p[0] < p[1]]
    return free


def first_fit(free, size, align, floor):
    """Lowest address aligned to `align` with `size` bytes free, at or above
    `floor` if a range has room there, else the lowest anywhere; None if
    none has. Takes the bytes out of `free` (a list, changed in place)."""
    for lo in (floor, 0):
        for i, (a, b) in enumerate(free):
            start = (max(a, lo) + align - 1) // align * align
            end = start + size
            if end <= b:
                free[i:i + 1] = [p for p in ((a, start), (end, b)) if p[0] < p[1]]
                return start
    return None


def place(plan, mem_size, cmdline="", loader_name="mpvisor", modules=()):
    """Fill in plan.info_gpa, plan.info [(gpa, bytes)] and plan.modules
    [(mod_start, mod_end, cmdline)], in the order given: the information
    structure at the lowest free address from INFO_BASE (0x8000) up, else
    below it; each module on a page boundary at the lowest free address
    from 1 MiB up, else below it. ImageError when one does not fit."""
    line = _text(cmdline, "the command line").decode()
    mods = check_modules(modules)
    texts = [t.decode() for _, t in mods]
    free = free_ram(mem_size, [(g, g + m) for g, _, m in plan.segments])
    size = len(mbinfo.build(mem_size, line, loader_name, [(0, 0, t) for t in texts], 0))
    base = first_fit(free, size, _INFO_ALIGN, INFO_BASE)
    if base is None:
        raise ImageError("no room for the multiboot information (%d bytes) in guest RAM (0x%x bytes) "
                         "beside the kernel's segments" % (size, mem_size))
    placed = []
    for i, (n, text) in enumerate(zip([n for n, _ in mods], texts)):
        start = first_fit(free, n, _PAGE, HIGH_RAM_START)
        if start is None:
            raise ImageError("module %d (%d bytes) does not fit in guest RAM (0x%x bytes) beside the "
                             "kernel, the multiboot information and the modules before it"
                             % (i, n, mem_size))
        placed.append((start, start + n, text))
    plan.info_gpa = base
    plan.info = [(base, mbinfo.build(mem_size, line, loader_name, placed, base))]
    plan.modules = placed
    return plan
