# Host tests for where the multiboot loader puts the information structure and
# the boot modules (hv.loader.mbplace, vm.load_multiboot(modules=), hv.boot(modules=)):
# kernels linked low load, nothing overlaps the kernel or anything else, modules
# are page-aligned, and every malformed case is an ImageError that leaves no frame.
import itertools

import pytest

import multiboot
from hv.host.frame import OutOfFrames
from hv.loader import mbinfo, mbload, mbplace
from hv.loader.mbload import ImageError
from hv.x86.regs import RBX
from hv.vcpu.svm import percpu
from svm_fakes import MiB, Machine
from test_mbload import aout, elf32

RESERVED = [(b, b + n) for b, n, t in mbinfo.memory_map(1 << 32) if t != mbinfo.AVAILABLE]


@pytest.fixture(autouse=True)
def _fresh_percpu():
    percpu._owner.state = None
    yield
    percpu._owner.state = None


def overlaps(a, b):
    return a[0] < b[1] and b[0] < a[1]


def placed(image, mem, cmdline="", modules=()):
    return mbplace.place(mbload.plan(image, mem), mem, cmdline, "mpvisor", modules)


def check_layout(p, mem, sizes):
    """Reads the info back with the kernel-side parser (py/multiboot.py) and
    checks what it points at: the structure, mmap, module list and strings
    inside the blob; blob and modules apart from the kernel's segments and
    each other, in RAM the map offers; modules page-aligned."""
    (base, blob), = p.info
    end = base + len(blob)

    def read(addr, n):
        assert base <= addr and addr + n <= end + 64, hex(addr)
        return (blob + bytes(64))[addr - base:addr - base + n]
    info = multiboot.BootInfo(base, read)
    assert [(x.start, x.end, x.cmdline) for x in info.modules] == p.modules
    mods = [(s, e) for s, e, _ in p.modules]
    for s, e in info.used:
        assert (s, e) in mods or base <= s and e <= end, (hex(s), hex(e))
    assert [e - s for s, e in mods] == sizes
    assert all(s % 0x1000 == 0 for s, _ in mods)                              # page-aligned (3.3)
    added = [(base, end)] + mods
    for x, y in itertools.combinations(added, 2):
        assert not overlaps(x, y), (x, y)
    for x in added:
        assert not any(overlaps(x, (g, g + n)) for g, _, n in p.segments), x
        assert 0x2000 <= x[0] and x[1] <= mem and not any(overlaps(x, r) for r in RESERVED), x
    return info


@pytest.mark.parametrize("load", [0x8000, 0x10000, 0x2000, 0x100000])
def test_kernel_linked_low_loads_and_the_info_avoids_it(load):
    p = placed(aout(load=load, bss=0x6000), 32 * MiB, "low kernel", [(b"A" * 5000, "one"), (b"", "empty")])
    info = check_layout(p, 32 * MiB, [5000, 0])
    assert info.cmdline == "low kernel" and [m.cmdline for m in info.modules] == ["one", "empty"]
    end = load + 32 + 100 + 0x6000
    assert p.info_gpa == (0x8000 if load >= 0x10000 or end <= 0x8000 else (end + 7) & ~7)
    assert p.modules[0][0] == (0x100000 if load < 0x100000 else (end + 0xFFF) & ~0xFFF)


def test_elf_segments_around_the_first_choices():
    # Segments at 0x8000 and at 1 MiB: info after the first, modules after the second.
    image = elf32([(0x8000, b"\x90" * 64, 0x1000), (0x100000, b"data", 0x3004)], entry=0x8010)
    p = placed(image, 8 * MiB, "x", [(bytearray(3), "a b"), (memoryview(b"\1" * 0x2001), "c")])
    check_layout(p, 8 * MiB, [3, 0x2001])
    assert p.info_gpa == 0x900C + 4 and [s for s, _, _ in p.modules] == [0x104000, 0x105000]


@pytest.mark.parametrize("mem, load, bss, sizes", [
    (1 * MiB, 0x2000, 0x1000, [0x1000, 10]),            # all of it below 1 MiB
    (2 * MiB, 0x100000, 0xF0000, [0x30000, 0x8000]),    # high RAM full: modules go low
    (32 * MiB, 0x8000, 0x90000, [3 * MiB, 1, 0x1000]),  # no room below 0x98000 for info past the kernel
    (128 * MiB, 0x100000, 0x400000, [5 * MiB, 7 * MiB + 3]),
])
def test_nothing_overlaps(mem, load, bss, sizes):
    p = placed(aout(load=load, bss=bss), mem, "c" * 300, [(bytes(n), "m%d" % i) for i, n in enumerate(sizes)])
    check_layout(p, mem, sizes)


@pytest.mark.parametrize("mem, image, modules, message", [
    (8 * MiB, aout(), [(bytes(8 * MiB), "big")], r"module 0 \(8388608 bytes\) does not fit"),
    (8 * MiB, aout(), [(bytes(3 * MiB), "a"), (bytes(4 * MiB), "b")], "module 1 .* does not fit"),
    (1 * MiB, aout(load=0x2000, bss=0x9FC00 - 0x2000 - 132), [], "no room for the multiboot information"),
    (8 * MiB, aout(), [(42, "n")], "module 0 is a int, not bytes-like"),
    (8 * MiB, aout(), [(b"x", "ok"), ("text", "s")], "module 1 is a str, not bytes-like"),
    (8 * MiB, aout(), [b"no cmdline"], r"module 0 is not a \(bytes, cmdline\) pair"),
    (8 * MiB, aout(), [(b"x", "a\0b")], "module 0's command line contains a NUL byte"),
    (8 * MiB, aout(), [(b"x", 7)], "module 0's command line is a int, not a str"),
])
def test_placement_errors(mem, image, modules, message):
    with pytest.raises(ImageError, match=message):
        placed(image, mem, "", modules)


def test_kernel_command_line_with_nul():
    with pytest.raises(ImageError, match="the command line contains a NUL byte"):
        placed(aout(), 8 * MiB, "root=x\0y")


def test_vm_gets_the_modules_and_the_info_points_at_them():
    m = Machine()
    vm = m.vm(32 * MiB)
    mods = [(bytes(range(256)) * 20, "mod0 arg"), (b"\xaa" * (3 * MiB), "mod1")]
    c = vm.load_multiboot(aout(load=0x8000, bss=0x1000), "k", modules=mods)
    info = multiboot.BootInfo(c.get_gpr(RBX), vm.read)
    assert info.flags & (1 << 3) and info.cmdline == "k"
    assert [(vm.read(x.start, x.end - x.start), x.cmdline) for x in info.modules] == mods
    assert info.modules[0].start == 0x100000 and info.modules[1].start == 0x102000
    assert vm.read(0x8000, 4) == b"\x02\xb0\xad\x1b"                  # the kernel, not the info
    assert c.get_gpr(RBX) == (0x8000 + 132 + 0x1000 + 7) & ~7 and vm.kernel.modules[1][2] == "mod1"
    assert len(vm._large) == 1                                        # the whole 2 MiB block of mod1
    vm.close()


@pytest.mark.parametrize("modules, message", [
    ([(bytes(40 * MiB), "big")], "does not fit"),
    ([(None, "x")], "not bytes-like"),
    ([(b"x", "nul\0")], "NUL byte"),
])
def test_malformed_modules_leave_the_vm_untouched(modules, message):
    m = Machine()
    free = m.allocator.free_count()
    vm = m.vm(32 * MiB)
    with pytest.raises(ImageError, match=message):
        vm.load_multiboot(aout(), modules=modules)
    assert vm.vcpus == [] and vm.owned_frames() == 0 and vm.kernel is None
    vm.close()
    assert m.allocator.free_count() == free


def test_too_few_frames_for_the_modules_is_told_before_any_write():
    m = Machine()
    free = m.allocator.free_count()
    hog = [m.allocator.alloc_frame() for _ in range(free - 600)]     # ~2.3 MiB left
    vm = m.vm(32 * MiB)
    with pytest.raises(OutOfFrames, match="modules"):
        vm.load_multiboot(aout(), modules=[(bytes(3 * MiB), "m")])
    assert vm.vcpus == [] and vm.owned_frames() == 0
    vm.close()
    for f in hog:
        m.allocator.dealloc_frame(f)
    assert m.allocator.free_count() == free


def test_hv_boot_passes_modules_and_names(monkeypatch):
    import hv
    from hv.loader import boot
    m = Machine()
    made = []

    def make_vm(mem):
        vm = m.vm(mem)
        vm.run = lambda **options: vm.kernel
        made.append(vm)
        return vm
    monkeypatch.setattr(hv, "VM", make_vm)
    monkeypatch.setattr(boot, "find", lambda name: ({"blob": b"named"}[name], name))
    plan = hv.boot(aout(), modules=[(b"m0", "first"), ("blob", "second x")])
    assert [t for _, _, t in plan.modules] == ["first", "second x"]
    assert [e - s for s, e, _ in plan.modules] == [2, 5]
    with pytest.raises(ImageError, match="module 0 is a int"):
        hv.boot(aout(), modules=[(3, "x")])
    assert all(vm.owned_frames() == 0 and vm.vcpus == [] for vm in made)      # each VM closed
