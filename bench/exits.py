#!/usr/bin/env python3
"""`make bench`, VM exits: round trip by exit type and path, per boot.

Host tool (CPython). Boots the image in QEMU TCG (SVM, -cpu qemu64,+svm,+npt),
Bochs corei7_skylake_x (VMX) and Bochs ryzen (SVM) and, in one boot each,
runs tests/guests/exit_loop.asm once per exit type (CPUID, OUT, IN,
hypercall, RDMSR, WRMSR, nested page fault) and path (tests/payloads/bench_exits.py):
the normal path (vcpu.run() under the VMM, vm.run(): registered ports, MSRs
and hypercalls and cached CPUID leaves answered by the natives' tier one,
port/tier.h, which calls the Python handlers itself), the benchmark's
native CPUID table (svm/vmx.fast_cpuid), and the minimal native loop (svm/vmx.bench_loop: RIP stepped, nothing
else), which is the floor each is divided by. Each path runs n and 2n exits
(each the lesser of two tries) and the figure per exit is the difference
over n: what one more exit costs,
without vm.run()'s own cost per call (attaching the PC's devices, ...),
which is reported apart. Times come from the target's
TSC: wall-clock under QEMU TCG, emulated time under Bochs (its TSC runs at
`ips`). Prints Markdown tables and writes them to build/bench-exits.md.
"""
import argparse
import datetime
import os
import statistics
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path[:0] = [os.path.join(ROOT, "qemu"), os.path.join(ROOT, "tests")]
from launch import BOCHS_IPS, Machine  # noqa: E402
from harness.repl import Repl  # noqa: E402

ELF = os.path.join(ROOT, "build", "mpvisor.elf")
ISO = os.path.join(ROOT, "build", "mpvisor.iso")
KINDS = ("cpuid", "out", "in", "hypercall", "rdmsr", "wrmsr", "npf")
LABELS = {"cpuid": "CPUID", "out": "OUT (port 0x610)", "in": "IN (port 0x610)",
          "hypercall": "hypercall (VMMCALL / VMCALL)", "rdmsr": "RDMSR (intercepted)",
          "wrmsr": "WRMSR (intercepted)", "npf": "nested page fault (fresh page, resumed)"}
# name -> (emulator, Machine options, exits per measurement, what the clock is)
SETUPS = {
    "qemu": ("QEMU 7.2 TCG, -cpu qemu64,+svm,+npt (SVM, no NRIPS)", "qemu",
             dict(kernel=ELF), 10000, "wall clock"),
    "bochs-vmx": (f"Bochs 2.7, corei7_skylake_x (VMX), ips={BOCHS_IPS:,}", "bochs",
                  dict(iso=ISO, model="corei7_skylake_x"), 4000, "emulated time"),
    "bochs-svm": (f"Bochs 2.7, ryzen (SVM, NRIPS), ips={BOCHS_IPS:,}", "bochs",
                  dict(iso=ISO, model="ryzen"), 4000, "emulated time"),
}


def measure(repl, n, runs):
    """{kind: {path: [seconds per exit, one per run]}}; each run goes over
    every kind and path, so neighbouring figures share the host's load."""
    repl.load(os.path.join(ROOT, "tests", "payloads", "bench_exits.py"), timeout=60)
    repl.exec("import bench_exits as B", timeout=60)
    got = {k: {"python": [], "native": [], "fast": [], "ratio": [], "fast_ratio": []} for k in KINDS}
    got["run"] = []                             # vm.run()'s own cost per call, seconds

    def python(k, m):
        t, exits, left, _ = repl.eval(f"B.python_path({k!r}, {m})", timeout=600)
        assert left == 0 and exits == m + 1, (k, exits, left)
        return t

    def native(k, m):
        t, handled, _, left = repl.eval(f"B.native_loop({k!r}, {m})", timeout=600)
        assert (handled, left) == (m, 0), (k, handled, left)
        return t

    def fast(m):
        t, served, left = repl.eval(f"B.fast_cpuid_path({m})", timeout=600)
        assert (served, left) == (repl.eval(f"B.fast_served({m})"), 0), (served, left)
        return t

    def least(fn, *args):
        # The lesser of two tries: QEMU TCG now and then stalls for a few
        # hundred milliseconds in one (its own, not the guest's or the VMM's
        # work: it comes and goes with no change in the target's code), which
        # would make the difference below meaningless, even negative.
        return min(fn(*args), fn(*args))

    for _ in range(runs):
        for k in KINDS:
            # One more exit's cost: (t(2n) - t(n)) / n; t(n) less n of those is the fixed part.
            t_py = (least(python, k, 2 * n) - least(python, k, n)) / n
            t_nat = (least(native, k, 2 * n) - least(native, k, n)) / n
            got[k]["python"].append(t_py)
            got[k]["native"].append(t_nat)
            got[k]["ratio"].append(t_py / t_nat)
            if k == "cpuid":
                t1 = least(fast, n)
                t_fast = (least(fast, 2 * n) - t1) / n
                got["run"].append(t1 - n * t_fast)  # the fast path allocates nothing: no GC in it
                got[k]["fast"].append(t_fast)
                got[k]["fast_ratio"].append(t_fast / t_nat)
    return got


def spread(values, fmt):
    """median (min-max)"""
    return "%s (%s-%s)" % (fmt(statistics.median(values)), fmt(min(values)), fmt(max(values)))


def table(label, clock, n, runs, got, load):
    us = lambda s: "%.1f" % (s * 1e6)                         # noqa: E731
    x = lambda r: "%.1fx" % r                                 # noqa: E731
    out = [f"#### {label}", "",
           f"{n:,} and {2 * n:,} exits per measurement, the difference per exit, {runs} runs, "
           f"median (min-max), microseconds per exit "
           f"in {clock}; {datetime.date.today()}, host load average {load[0]:.2f} at start, "
           f"{load[1]:.2f} at end (2 cores).", "",
           "| exit | vm.run() path us | native fast path us | minimal native loop us "
           "| vm.run() / minimal | fast path / minimal |",
           "|---|---:|---:|---:|---:|---:|"]
    for k in KINDS:
        g = got[k]
        fast = spread(g["fast"], us) if g["fast"] else "-"
        fast_ratio = spread(g["fast_ratio"], x) if g["fast_ratio"] else "-"
        out.append(f"| {LABELS[k]} | {spread(g['python'], us)} | {fast} | {spread(g['native'], us)} "
                   f"| {spread(g['ratio'], x)} | {fast_ratio} |")
    rate = 1 / statistics.median(got["cpuid"]["python"])
    ms = lambda s: "%.1f" % (s * 1e3)                         # noqa: E731
    out += ["", f"CPUID through vm.run(): {rate:,.0f} exits/s ({clock}). "
            f"vm.run()'s own cost per call (set-up and tear-down; from the fast path's runs): "
            f"{spread(got['run'], ms)} ms."]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", choices=sorted(SETUPS), action="append")
    ap.add_argument("-n", type=int, help="exits per measurement (default: per emulator)")
    a = ap.parse_args()
    report = ["### VM exits by type: vm.run() and native paths vs a minimal native loop", "",
              f"`build/venv/bin/python bench/exits.py --runs {a.runs}`", ""]
    for name in a.only or SETUPS:
        label, emu, opts, n, clock = SETUPS[name]
        n = a.n or n
        load0 = os.getloadavg()[0]
        w0 = time.monotonic()
        with Machine(emu, **opts) as m:
            repl = Repl(m)
            repl.wait_prompt(120)
            repl.enter_raw()
            got = measure(repl, n, a.runs)
        lines = table(label, clock, n, a.runs, got, (load0, os.getloadavg()[0]))
        lines.append(f"(boot and {a.runs} runs: {time.monotonic() - w0:.0f} s wall clock)")
        print("\n".join(lines) + "\n", flush=True)
        report += lines + [""]
    with open(os.path.join(ROOT, "build", "bench-exits.md"), "w") as f:
        f.write("\n".join(report))


if __name__ == "__main__":
    main()
