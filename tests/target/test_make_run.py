# The ways a kernel gets to mpvisor besides the REPL: the default `make run`
# (the demo guest), `make run GUEST=... GUEST_ARGS=...` (a GRUB module in
# build/guest.iso) and a GRUB menu entry with `module` lines (mkiso.sh
# ENTRY, hv.loader.autoboot; data modules after a multiboot kernel are its
# boot modules), under QEMU TCG. Host test code driving the build.
import os
import re
import subprocess

from conftest import ELF, ISO, ROOT, booted, image

from harness.makerun import make_run
from launch import strip_ansi
from multiboot_cases import mbmods_lines


def until(marker):
    return lambda text: marker in text


def boot_span(out, name):
    """The seconds after the machine's reset autoboot prints for the start
    and the end of kernel `name`'s boot (hv.loader.autoboot, by the TSC)."""
    got = [float(re.search(rf"^autoboot: {re.escape(name)} {word} ([0-9.]+) s after the machine's reset$",
                           out, re.M).group(1)) for word in ("starts", "ended")]
    assert 0 < got[0] <= got[1] < 600, got
    return got


def test_make_run_boots_the_demo_guest():
    out = make_run(done=until("docs/tutorial.md walks through it"))
    assert "demo: hv.boot('demo', trace=True)\nguest| started by a multiboot loader: ok\n" in out
    assert "guest| hypercall HC_ADD(40, 2) returned 42: ok" in out
    assert "guest| 3 timer interrupts taken: ok\n" in out and "guest| PASS\n" in out
    assert "IoWrite port=0x43 width=1 data=0x34 (PIT)" in out
    assert "demo: the guest's result is 0 (0: all its checks passed)" in out


def test_make_run_guest_puts_a_kernel_in_the_image():
    out = make_run("GUEST=build/demos/mbinfo32.elf", "GUEST_ARGS=from make run x=1",
                   done=until("\n>>> "))
    assert "autoboot: mbinfo32.elf from make run x=1\n" in out
    assert "guest| cmdline: mbinfo32.elf from make run x=1\n" in out
    assert "autoboot: mbinfo32.elf: <RunResult DebugExit(0) after" in out and ", result 0\n" in out
    boot_span(out, "mbinfo32.elf")


def test_grub_menu_entry_boots_its_modules(tmp_path):
    # Three kernels; the two data modules after the last are its boot modules.
    iso = tmp_path / "menu.iso"
    data = [bytes(range(256)) * 3 + b"one", b"two" * 1000]
    for name, blob in zip(("one.dat", "two.dat"), data):
        (tmp_path / name).write_bytes(blob)
    entry = ("boot three guests|run=hv.loader.autoboot|" + os.path.join(ROOT, "build/demos/demo.bin") + "|"
             + os.path.join(ROOT, "build/demos/hello64.elf") + " hello from grub|"
             + os.path.join(ROOT, "build/guests/mbmods.bin") + " low|"
             + str(tmp_path / "one.dat") + " first x=1|" + str(tmp_path / "two.dat"))
    subprocess.run([os.path.join(ROOT, "qemu/mkiso.sh"), image(ELF), iso, "", entry], check=True,
                   env=dict(os.environ, GRUB_DEFAULT="1", GRUB_TIMEOUT="0"))
    with booted("qemu", iso=str(iso)) as repl:
        out = strip_ansi(repl.m.output).decode(errors="replace").replace("\r\n", "\n")
        assert re.search(r"autoboot: demo.bin\nautoboot: demo.bin starts [0-9.]+ s after the machine's reset\n"
                         r"guest\| started by a multiboot loader: ok", out)
        times = [t for name in ("demo.bin", "hello64.elf", "mbmods.bin") for t in boot_span(out, name)]
        assert times == sorted(times), times            # one after the other
        assert "autoboot: demo.bin: <RunResult DebugExit(0)" in out
        assert "autoboot: hello64.elf hello from grub\n" in out
        assert "autoboot: hello64.elf: <RunResult DebugExit(0)" in out
        assert "autoboot: mbmods.bin low + module one.dat + module two.dat\n" in out
        assert "".join(f"guest| {line}\n" for line in mbmods_lines(
            "mbmods.bin low", [(data[0], "one.dat first x=1"), (data[1], "two.dat")])) in out
        assert "autoboot: mbmods.bin: <RunResult DebugExit(0)" in out
        assert repl.eval("__import__('hv').images()")[:2] == ["demo.bin", "hello64.elf"]
        r = repl.exec("r = __import__('hv').boot('hello64.elf', echo=False)\nprint(r.result)")
        assert r == "0\n"


def test_the_iso_offers_the_demo_entry(tmp_path):
    subprocess.run(["xorriso", "-osirrox", "on", "-indev", image(ISO), "-extract",
                    "/boot/grub/grub.cfg", tmp_path / "grub.cfg"], capture_output=True, check=True)
    cfg = (tmp_path / "grub.cfg").read_bytes()
    assert (b'menuentry "mpvisor: boot demo guests from GRUB modules" {\n'
            b"    multiboot /boot/mpvisor.elf run=hv.loader.autoboot\n"
            b"    module /boot/modules/demo.bin demo.bin\n"
            b"    module /boot/modules/mbinfo32.elf mbinfo32.elf from grub\n") in cfg
