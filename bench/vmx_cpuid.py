#!/usr/bin/env python3
"""`make bench`, VMX part: CPUID exits per second, Python vs native.

Host tool (CPython). Boots the image in Bochs (cpu: model=corei7_skylake_x;
QEMU TCG has no VMX) and, in one boot, runs the guest
tests/guests/cpuid_loop.asm (10,000 CPUIDs, then HLT) twice per run: once
with every CPUID exit handled by the Python vCPU (hv.vmx.exits.cpuid), once
with the native fast path in port/modvmx.c answering from a table Python
built (hv.cpuid.CpuidPolicy.table) and stepping RIP by the VM-exit
instruction length. Rates are per emulated second (guest TSC, which Bochs
ticks at its `ips`) and per wall-clock second of the run() call. Prints a
Markdown table; --runs N repeats and reports medians.
"""
import argparse
import os
import statistics
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path[:0] = [os.path.join(ROOT, "qemu"), os.path.join(ROOT, "tests")]
from launch import BOCHS_IPS, Machine  # noqa: E402
from harness.repl import Repl  # noqa: E402

ISO = os.path.join(ROOT, "build", "mpvisor.iso")
ITERATIONS = 10000

# Runs on the target: one VM per measurement; returns (emulated seconds,
# exits the native path served).
TARGET = """
import gc, hv, hw, vmx, guests

def cpuid_bench(native):
    vm = hv.VM(4 << 20)
    c = vm.new_vcpu()
    vm.write(guests.LOAD, guests.CPUID_LOOP)
    c.set_entry(guests.LOAD)
    c.setup('long')
    c.bind()
    if native:
        vmx.fast_cpuid(vm.cpuid.table([(0x40000000, 0)]))
    gc.collect()
    try:
        t0 = hw.rdtsc()
        e = c.run()
        t1 = hw.rdtsc()
    finally:
        served = vmx.fast_served()
        vmx.fast_cpuid(None)                # off, and its count back to 0
        reason = e.reason
        vm.close()
    if reason != 'Halt':
        raise RuntimeError('benchmark guest ended with ' + reason)
    return (t1 - t0) / hw.tsc_hz(), served
"""


def timed(repl, native):
    w0 = time.monotonic()
    t, served = repl.eval(f"cpuid_bench({native})", timeout=600)
    return t, time.monotonic() - w0, served


def measure(repl, runs):
    repl.exec(TARGET, timeout=60)
    rows = {False: ([], []), True: ([], [])}
    for _ in range(runs):
        for native in (False, True):
            t, wall, served = timed(repl, native)
            assert served == (ITERATIONS if native else 0), f"native path served {served}"
            rows[native][0].append(t)
            rows[native][1].append(wall)
    return {k: (statistics.median(v[0]), statistics.median(v[1])) for k, v in rows.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    with Machine("bochs", iso=ISO, model="corei7_skylake_x") as m:
        repl = Repl(m)
        repl.wait_prompt(120)
        repl.enter_raw()
        r = measure(repl, a.runs)
    (py_t, py_w), (nat_t, nat_w) = r[False], r[True]
    print(f"Bochs 2.7, corei7_skylake_x, ips={BOCHS_IPS:,}; {ITERATIONS:,} CPUID exits, "
          f"median of {a.runs}\n")
    print("| path | exits/s (emulated time) | exits/s (wall clock) | us per exit (emulated) |")
    print("|---|---:|---:|---:|")
    for label, t, w in (("Python handler (hv.vmx.exits.cpuid)", py_t, py_w),
                        ("native fast path (port/modvmx.c)", nat_t, nat_w)):
        print(f"| {label} | {ITERATIONS / t:,.0f} | {ITERATIONS / w:,.0f} "
              f"| {t / ITERATIONS * 1e6:.1f} |")
    print(f"\nPython cost / native: {py_t / nat_t:.1f}x (emulated), "
          f"{py_w / nat_w:.1f}x (wall clock)")


if __name__ == "__main__":
    main()
