#!/usr/bin/env python3
"""`make bench`: the stock Linux guest (`make linux`) under mpvisor.

Host tool (CPython). Reports, for the legacy PC command line (`noapic
nolapic acpi=off pci=off`; `make run-linux` boots the kernel's defaults
since 2026-12-06): the time from emulator start to the busybox
shell's first prompt, mpvisor in QEMU TCG (SVM, hv.loader.autoboot) with
the kernel and initramfs as multiboot modules, loaded by QEMU's own
multiboot loader (-kernel mpvisor.elf -initrd 'bzImage ...,initramfs.cpio')
or by GRUB from an ISO (the USB stick's way), against the same kernel,
initramfs and command line booted directly by QEMU (-M pc), runs
interleaved; the exits the VMM sees during that boot, by reason and
device; the least guest RAM (hv.boot mem=) that reaches the shell; and,
with the kernel's defaults (`console=ttyS0`: APICs, ACPI) and the legacy
PC's, the emulated time from Bochs' start (the machine's reset) to the
prompt, on each Bochs CPU in BOCHS_MODELS at linux.BOCHS_IPS, against the
same kernel, initramfs and command line booted directly by GRUB under
Bochs. Appends the tables to build/bench.md and prints them.
"""
import argparse
import concurrent.futures
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path[:0] = [os.path.join(ROOT, "qemu"), os.path.join(ROOT, "tests")]
from launch import Machine  # noqa: E402
from harness import linux  # noqa: E402
from harness.repl import Repl  # noqa: E402

ELF = os.path.join(ROOT, "build", "mpvisor.elf")
CMDLINE = "console=ttyS0 noapic nolapic acpi=off pci=off"
DEFAULTS = "console=ttyS0"          # the kernel's defaults on the PC with APICs and ACPI
BOCHS_MODELS = ("corei7_skylake_x",)
BOCHS_TSC = f"tsc_early_khz={linux.BOCHS_IPS // 1000}"   # Bochs' TSC rate, for the direct boot
TIME0 = 946684800                   # Bochs' CMOS clock at reset: 2000-01-01 00:00:00 UTC
RTC_LINE = re.compile(rb"init: rtc0 since_epoch (\d+)")    # tools/linux/init
AUTOBOOT_START = re.compile(rb"autoboot: \S+ starts ([0-9.]+) s after the machine's reset")
PAYLOAD = os.path.join(ROOT, "tests", "payloads", "bench_linux.py")
MiB = 1 << 20


def make_iso(path, run, cmdline=CMDLINE):
    """An ISO booting mpvisor with kernel (command line `cmdline`) and
    initramfs as GRUB modules; run: mpvisor's run= option ('' for the REPL)."""
    entry = f"linux|{run}|{linux.KERNEL} {cmdline}|{linux.INITRD}"
    subprocess.run([os.path.join(ROOT, "qemu/mkiso.sh"), ELF, path, "", entry], check=True,
                   env=dict(os.environ, GRUB_DEFAULT="1", GRUB_TIMEOUT="0"))


def make_direct_iso(path, cmdline):
    """A BIOS ISO whose GRUB boots the kernel and initramfs itself (GRUB's
    `linux`/`initrd`, the Linux boot protocol): the direct boot under Bochs."""
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "boot", "grub"))
        for src, name in ((linux.KERNEL, "bzImage"), (linux.INITRD, "initramfs.cpio")):
            shutil.copyfile(src, os.path.join(tmp, "boot", name))
        with open(os.path.join(tmp, "boot", "grub", "grub.cfg"), "w") as f:
            f.write("serial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\n"
                    "set timeout=0\nmenuentry linux {\n"
                    f"    linux /boot/bzImage {cmdline}\n    initrd /boot/initramfs.cpio\n}}\n")
        subprocess.run(["grub-mkrescue", "--locales=", "--fonts=", "--themes=",
                        "--install-modules=linux normal serial terminal configfile",
                        "-d", "/usr/lib/grub/i386-pc", "-o", path, tmp],
                       check=True, capture_output=True)


def bochs_direct(iso, model):
    """Emulated seconds from Bochs' reset to /init's marker with the kernel
    run directly, read by the guest from the CMOS clock (which Bochs starts
    at TIME0 and runs on emulated time); the wall seconds it took. Bochs
    must answer the MSRs it lacks with 0: Linux reads IA32_MISC_ENABLE,
    which Bochs lacks (under mpvisor the VMM emulates it)."""
    with Machine("bochs", iso=iso, model=model, ips=linux.BOCHS_IPS, time0=TIME0,
                 ignore_bad_msrs=True) as m:
        out = m.read_until(linux.READY, 3600)
        rtc = RTC_LINE.search(out)
        if not rtc:
            raise RuntimeError(f"no rtc0 line from /init before its marker: {out[-400:]!r}")
        return int(rtc.group(1)) - TIME0, time.monotonic() - m.started_at


def bochs_to_hv_boot(iso, model):
    """Emulated seconds from Bochs' reset to mpvisor's hv.boot of the kernel
    (BIOS, GRUB loading mpvisor and both modules, mpvisor's start), with no
    REPL in between: hv.loader.autoboot prints it by the TSC."""
    with Machine("bochs", iso=iso, model=model, ips=linux.BOCHS_IPS) as m:
        return float(AUTOBOOT_START.search(m.read_until(AUTOBOOT_START, 600)).group(1))


def bochs_from_hv_boot(iso, model, cmdline):
    """(reason, emulated s from reset to the prompt, of which from hv.boot,
    exits, wall s) by the TSC, hv.boot from the REPL (so the first figure
    includes the time the REPL waited for the harness)."""
    with Machine("bochs", iso=iso, model=model, ips=linux.BOCHS_IPS) as m:
        got = Payload(m, 4000, 300).call(f"emulated_to_shell({cmdline!r})")
        return got + (time.monotonic() - m.started_at,)


class Payload:
    """tests/payloads/bench_linux.py at a machine's REPL."""

    def __init__(self, m, timeout, prompt_timeout):
        self.repl = Repl(m, timeout=timeout)
        self.repl.wait_prompt(prompt_timeout)
        self.repl.load(PAYLOAD)
        self.repl.exec("import bench_linux")

    def call(self, expr):
        """The value of bench_linux.`expr`, printed as its repr on the last
        line (after a run's report)."""
        out = self.repl.exec(f"print(repr(bench_linux.{expr}))")
        return eval(out.strip().splitlines()[-1])


def to_prompt(**options):
    """Seconds from the emulator's start to the shell's first prompt."""
    with Machine("qemu", **options) as m:
        linux.Shell(m).wait_ready(900)
        return m.matched_at - m.started_at


def boot_times(runs, iso):
    modules = f"{linux.KERNEL} bzImage {CMDLINE},{linux.INITRD} initramfs.cpio"
    cases = [("QEMU -M pc, the kernel directly", dict(kernel=linux.KERNEL, initrd=linux.INITRD,
                                                       machine="pc", cpu="qemu64", append=CMDLINE)),
             ("mpvisor (SVM) in QEMU -M pc, modules by QEMU's multiboot loader",
              dict(kernel=ELF, initrd=modules, append="run=hv.loader.autoboot")),
             ("mpvisor (SVM) in QEMU -M pc, modules by GRUB from an ISO", dict(iso=iso))]
    times = {name: [] for name, _ in cases}
    for i in range(runs):
        for name, opts in cases:
            t = to_prompt(**opts)
            times[name].append(t)
            print(f"  run {i + 1}: {name}: {t:.1f} s", flush=True)
    return times


def on_target(iso, mems):
    with Machine("qemu", iso=iso) as m:
        payload = Payload(m, 1800, 60)
        reason, counts, exits, seconds = payload.call(f"exits_to_shell({CMDLINE!r})")
        ram = []
        for mem in mems:
            ram.append((mem, payload.call(f"reaches_shell({CMDLINE!r}, {mem})")))
            print(f"  {mem // MiB} MiB: {ram[-1][1]}", flush=True)
            if ram[-1][1] == "Shell":
                break
    return reason, counts, exits, seconds, ram


def bochs_times(tmp, repl_iso):
    """{(model, command line): (direct s, direct wall s, reset to hv.boot s,
    (reason, reset to the prompt s, hv.boot to the prompt s, exits, wall s))}:
    the three boots of each side by side (emulated time does not depend on
    the load)."""
    out = {}
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        for model in BOCHS_MODELS:
            for i, cmdline in enumerate((DEFAULTS, CMDLINE)):
                auto, direct = (os.path.join(tmp, f"bochs-{k}-{i}.iso") for k in ("auto", "direct"))
                make_iso(auto, "run=hv.loader.autoboot", cmdline)
                make_direct_iso(direct, f"{cmdline} {BOCHS_TSC}")
                runs = (pool.submit(bochs_direct, direct, model),
                        pool.submit(bochs_to_hv_boot, auto, model),
                        pool.submit(bochs_from_hv_boot, repl_iso, model, cmdline))
                got = out[model, cmdline] = runs[0].result() + (runs[1].result(), runs[2].result())
                print(f"  Bochs {model} `{cmdline}`: {got}", flush=True)
    return out


def bochs_table(got):
    lines = [f"Under Bochs 2.7 (ips {linux.BOCHS_IPS:,}), emulated seconds from the machine's reset: "
             f"the kernel run directly (GRUB's `linux` and `initrd`, `{BOCHS_TSC}` added: Bochs' own "
             "CPUID 15H/16H say 3.5 GHz, as mpvisor corrects for its guest; to /init's marker, by the "
             "CMOS clock /init reads) and under mpvisor (to the prompt, by the TSC: reset to hv.boot "
             "from hv.loader.autoboot, hv.boot to the prompt from a REPL run, which also counts the "
             "exits), one boot each:", "",
             "| CPU | command line | direct s | mpvisor: reset to hv.boot s | hv.boot to the prompt s "
             "| mpvisor s | mpvisor / direct | exits | end |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for (model, cmdline), (direct, _, start, (reason, _, boot, exits, _)) in got.items():
        lines.append(f"| {model} | `{cmdline}` | {direct} | {start:.1f} | {boot:.1f} "
                     f"| {start + boot:.1f} | {(start + boot) / direct:.2f}x | {exits} | {reason} |")
    return lines + [""]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mems", default="64,68,72,80,96",
                    help="guest RAM sizes in MiB to try, smallest first")
    ap.add_argument("--only", choices=("times", "target", "bochs"), help="one part of the measurements")
    a = ap.parse_args()
    for path in (linux.KERNEL, linux.INITRD, ELF):
        if not os.path.exists(path):
            sys.exit(f"{path} is missing: make all linux")
    lines = [f"## Linux to the shell ({linux.release()}, `{CMDLINE}`)", ""]
    with tempfile.TemporaryDirectory() as tmp:
        auto, repl_iso = os.path.join(tmp, "auto.iso"), os.path.join(tmp, "repl.iso")
        make_iso(auto, "run=hv.loader.autoboot")
        make_iso(repl_iso, "")
        if a.only in (None, "times"):
            print(f"linux: emulator start to the shell prompt, {a.runs} interleaved runs", flush=True)
            times = boot_times(a.runs, auto)
            lines += ["| QEMU 7.2 TCG | median s | min | max |", "|---|---|---|---|"]
            for name, v in times.items():
                lines.append(f"| {name} | {statistics.median(v):.1f} | {min(v):.1f} | {max(v):.1f} |")
            names = list(times)
            base = statistics.median(times[names[0]])
            lines.append("")
            for name in names[1:]:
                lines.append(f"{name} / direct: {statistics.median(times[name]) / base:.1f}x (medians)")
            lines.append("")
        if a.only in (None, "target"):
            print("linux: exits to the shell prompt, least RAM", flush=True)
            lines += target_tables(*on_target(repl_iso, [int(x) * MiB for x in a.mems.split(",")]))
        if a.only in (None, "bochs"):
            print("linux: emulated time to the shell prompt under Bochs", flush=True)
            lines += [""] + bochs_table(bochs_times(tmp, repl_iso))
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "bench.md"), "a") as f:
        f.write("\n" + text)


def target_tables(reason, counts, exits, seconds, ram):
    lines = [f"Exits the VMM saw to the prompt ({reason}; every exit through the VMM's second "
              f"tier, which slows the boot: {seconds:.1f} s): {exits} in all", "",
              "| exit | count |", "|---|---|"]
    for k, v in sorted(counts.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {k} | {v} |")
    lines += ["", "| guest RAM | outcome |", "|---|---|"]
    lines += [f"| {mem // MiB} MiB | {how} |" for mem, how in ram]
    return lines


if __name__ == "__main__":
    main()
