# The ISO boots through GRUB under SeaBIOS and UEFI (OVMF), and the kernel
# command line reaches the boot script.
from conftest import ELF, ISO, image


def test_iso_boots_under_bios(boot):
    repl = boot(iso=image(ISO))
    assert repl.eval("__import__('multiboot').info().loader_name").startswith("GRUB")
    assert repl.eval("__import__('hv').vendor()") == "amd"


def test_iso_boots_under_uefi(boot):
    repl = boot(iso=image(ISO), uefi=True)
    assert repl.eval("__import__('multiboot').info().loader_name").startswith("GRUB")
    # UEFI firmware leaves many memory-map entries; all RAM still counts.
    mmap = repl.eval("__import__('multiboot').info().memory_map")
    assert sum(l for b, l, t in mmap if t == 1) > 200 * 2**20


def test_command_line_reaches_python(boot):
    repl = boot(kernel=image(ELF), append="vendor=none run=hw")
    assert repl.eval("__import__('multiboot').info().cmdline").endswith(" vendor=none run=hw")  # QEMU puts the kernel path first
    assert repl.eval("__import__('hv').vendor()") is None
    assert "vendor: None" in repl.machine.output.decode(errors="replace")


def test_more_ram_than_4g_is_identity_mapped(boot):
    repl = boot(kernel=image(ELF), mem="5G")
    limit = repl.eval("hw.identity_limit()")
    assert limit >= 5 * 2**30 + 2**30 - 1 or limit >= 6 * 2**30
    assert repl.eval("hw.write64(0x140000000, 0x1122334455667788) or hw.read64(0x140000000)") == 0x1122334455667788
