#!/usr/bin/env python3
"""`make bench`, SVM part: CPUID exits per second, Python vs native.

Host tool (CPython). Boots the image in QEMU TCG (-cpu qemu64,+svm,+npt) and
Bochs (cpu: model=ryzen) and, in one boot each, runs the guest
tests/guests/cpuid_loop.asm (10,000 CPUIDs, then HLT) twice: once with every
CPUID exit handled by the Python vCPU (hv.svm.exits.cpuid), once with the
native fast path in port/modsvm.c answering from a table Python built
(hv.cpuid.CpuidPolicy.table). Prints a Markdown table; --runs N repeats.
"""
import argparse
import os
import statistics
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path[:0] = [os.path.join(ROOT, "qemu"), os.path.join(ROOT, "tests")]
from launch import Machine  # noqa: E402
from harness.repl import Repl  # noqa: E402

ELF = os.path.join(ROOT, "build", "mpvisor.elf")
ISO = os.path.join(ROOT, "build", "mpvisor.iso")
ITERATIONS = 10000

# Runs on the target: one VM per measurement; returns (seconds, exits the
# native path served). The fast path may only step over CPUIDs in the
# guest page Python translated itself (guest paging, then nested paging).
TARGET = """
import gc, hv, hw, svm, guests
from hv import gwalk
from hv.svm import vmcb as V

def cpuid_bench(native):
    vm = hv.VM(4 << 20)
    c = vm.new_vcpu()
    vm.write(guests.LOAD, guests.CPUID_LOOP)
    c.set_entry(guests.LOAD)
    c.setup('long')
    c.bind()
    if native:
        v = c.vmcb
        page = guests.LOAD & ~0xFFF
        gpa = gwalk.translate(page, v.get(V.CR0), v.get(V.CR3), v.get(V.CR4), v.get(V.EFER),
                              vm.read_phys64)
        svm.fast_cpuid(vm.cpuid.table([(0x40000000, 0)]), page, vm.gpa_to_hpa(gpa), 4096)
    gc.collect()
    try:
        t0 = hw.rdtsc()
        e = c.run()
        t1 = hw.rdtsc()
        served = svm.fast_served()
    finally:
        svm.fast_cpuid(None)                # off, and its count back to 0
        reason = e.reason
        vm.close()
    if reason != 'Halt':
        raise RuntimeError('benchmark guest ended with ' + reason)
    return (t1 - t0) / hw.tsc_hz(), served
"""


def measure(repl, runs):
    repl.exec(TARGET, timeout=60)
    py, nat = [], []
    for _ in range(runs):
        t, served = repl.eval("cpuid_bench(False)", timeout=600)
        assert served == 0
        py.append(t)
        t, served = repl.eval("cpuid_bench(True)", timeout=600)
        assert served == ITERATIONS, f"native path served {served} of {ITERATIONS}"
        nat.append(t)
    return statistics.median(py), statistics.median(nat)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=("qemu", "bochs"))
    a = ap.parse_args()
    rows = []
    setups = [("QEMU 7.2 TCG, qemu64,+svm,+npt", "qemu", dict(kernel=ELF)),
              ("Bochs 2.7, ryzen", "bochs", dict(iso=ISO, model="ryzen"))]
    for label, emu, opts in setups:
        if a.only and a.only != emu:
            continue
        with Machine(emu, **opts) as m:
            repl = Repl(m)
            repl.wait_prompt(120)
            repl.enter_raw()
            py, nat = measure(repl, a.runs)
        rows.append((label, ITERATIONS / py, ITERATIONS / nat, py / nat))
    print("| emulator | CPUID exits/s, Python handler | CPUID exits/s, native fast path | Python cost / native |")
    print("|---|---:|---:|---:|")
    for label, p, n, ratio in rows:
        print(f"| {label} | {p:,.0f} | {n:,.0f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
