# Guest isolation on a booted mpvisor, as test functions that
# test_isolation_qemu.py (AMD SVM/NPT, QEMU TCG) and test_isolation_bochs.py
# (Intel VMX/EPT, Bochs) import with their own module-scoped `repl`: a guest
# (tests/guests/isolate.asm) walks its RAM and guest-physical space up to
# its MAXPHYADDR and probes the host-physical addresses of host memory, its
# own VMCB/VMCS and nested tables and a second VM's RAM: it must read only
# its own RAM, every other access must exit with exactly that address, and
# no write may land. Frames a closed VM had come back zeroed.

SETUP = """
import hv, hw, guests, struct, micropython
KEY = 0x5AFEC0DE00000000
MARK = 0xF417F417F417F417
PARAMS, RESULTS = 0x18000, 0x19000
free_at_start = hv.frames.free_count()

@micropython.viper
def buf_addr(b) -> int:
    return int(ptr8(b))

def pattern(base, n):
    return b''.join(struct.pack('<Q', (base + i) ^ 0xC0FFEE00C0FFEE00) for i in range(0, n, 8))

def iso_vm(mem, op, extra=(), prealloc=True):
    vm = hv.VM(mem, prealloc=prealloc)
    c = vm.load_flat(guests.ISOLATE, 0x10000, 0x10000, 'long')
    vm.write(PARAMS, struct.pack('<3Q', op, mem, len(extra))
             + b''.join(struct.pack('<Q', a) for a in extra))
    if op == 1:
        for g in range(0x20000, mem, 0x1000):
            vm.write(g, struct.pack('<Q', g ^ KEY))
    return vm, c

def drive(c, limit=4000):
    # A fault from the probe's load or store (RIP == R15): noted, RAX :=
    # MARK, resumed at R14 (an MMIO exit dropped first: retry()). Anything
    # else but the closing Halt ends it.
    faults, end = [], None
    c.bind()
    try:
        for n in range(limit):
            e = c.run()
            if e.reason in ('NestedPageFault', 'MmioRead', 'MmioWrite'):
                at_probe = c.rip == c.get_gpr(15)
                faults.append((e.reason, e.addr, e.access, at_probe))
                if e.reason != 'NestedPageFault':
                    c.retry()
                if not at_probe:
                    end = 'fault at rip %#x' % c.rip
                    break
                c.set_gpr(0, MARK)
                c.rip = c.get_gpr(14)
                continue
            end = e.reason
            break
    finally:
        c.unbind()
    return end, faults

def results(vm):
    h = struct.unpack('<7Q', vm.read(RESULTS, 56))
    n = h[4]
    return dict(maxphy=h[0], gib=h[1], bad=h[2], firstbad=h[3], n=n, nonzero=h[5], pages=h[6],
                addrs=struct.unpack('<%dQ' % n, vm.read(RESULTS + 0x100, 8 * n)),
                values=struct.unpack('<%dQ' % n, vm.read(RESULTS + 0x900, 8 * n)))

def host_structs(vm):
    # Host-physical addresses of what the hypervisor keeps for vm.
    c = vm.vcpus[0]
    out = [('vmcb/vmcs', c._frame.start_paddr)]
    for name in ('iopm', 'msrpm', 'io_bitmaps', 'msr_bitmap'):
        o = getattr(c, name, None)
        if o is not None:
            out.append((name, o.pa))
    for name in ('hsave_pa', 'host_area_pa', 'vmxon_pa'):
        if getattr(c.percpu, name, None):
            out.append((name, getattr(c.percpu, name)))
    out += [('npt', pa) for pa in vm.npt.table_addresses()]
    return out

def leaves_ok(vm, others=()):
    # Every nested leaf inside guest RAM, on a frame only this VM has, and
    # exactly the frames the VM's own map (gpa_to_hpa) names.
    own = set(vm.gpa_to_hpa(g) & ~0xFFF for g in range(0, vm.mem_size, 0x1000)
              if vm.gpa_to_hpa(g) >= 0)
    frames, total = set(), 0
    for gpa, hpa, size in vm.npt.leaves():
        if gpa + size > vm.mem_size or hpa % size:
            return 'leaf %#x+%#x -> %#x' % (gpa, size, hpa)
        for off in range(0, size, 0x1000):
            frames.add(hpa + off)
        total += size
    tables = set(vm.npt.table_addresses())
    if total != 4096 * len(own) or frames != own or frames & tables:
        return 'leaves cover %#x, own %d frames' % (total, len(own))
    for o in others:
        theirs = set(o.npt.table_addresses()) | set(h for _, h, _ in o.npt.leaves())
        if (frames | tables) & theirs:
            return 'frames shared with another VM'
    return 'ok'
"""

MEM = 3 << 20           # 0-2 MiB one 2 MiB page, 2-3 MiB small pages: 3 MiB is mid-2-MiB


def expected_faults(probes, mem):
    out = []
    for p in probes:
        if p >= mem:                # outside RAM, no device: MMIO nobody answers
            out += [("MmioRead", p, None, True), ("MmioWrite", p, None, True)]
    return out


def test_guest_reads_only_its_ram_and_every_other_address_faults(repl):
    repl.exec(SETUP)
    repl.exec(f"""
frame = hv.PhysFrame.alloc()
frame.mem[:] = pattern(frame.start_paddr, 4096)
heap = bytearray(4 << 20)          # its tail lies past guest RAM's range
heap[-4096:] = pattern(0, 4096)
kstart, kend = hw.kernel_range()
ktext = bytes(hw.mem(kstart, 4096))
vm2 = hv.VM(16 << 20)
c2 = vm2.load_flat(guests.LONG64, 0x10000, 0x10000, 'long')
vm2.vmm.ports.update({{0x600: 0xA5A5A5A5}}); vm2.vmm.msrs.update({{0x4D500001: 0}})
vm2.write(0x800000, pattern(0x800000, 4096))
vm, c = iso_vm({MEM}, 1)
named = [('frame', frame.start_paddr), ('frame end', frame.start_paddr + 4088),
         ('heap', buf_addr(heap)), ('heap tail', buf_addr(heap) + (4 << 20) - 4096),
         ('kernel', kstart), ('kernel end', kend - 8),
         ('vm2 ram', vm2.gpa_to_hpa(0x800000))]
named += host_structs(vm) + [('vm2 ' + n, a) for n, a in host_structs(vm2)]
vm.write(PARAMS + 16, struct.pack('<Q', len(named)) + b''.join(struct.pack('<Q', a) for _, a in named))
""")
    named = repl.eval("named")
    assert len(named) >= 14 and all(a > 0 for _, a in named)
    end, faults = repl.eval("drive(c)", timeout=300)
    got = repl.eval("results(vm)")
    cpu = repl.eval("(hw.cpuid(0x80000008)[0] & 0xFF, hw.cpuid(0x80000001)[3] >> 26 & 1)")
    assert end == "Halt", (end, faults[-3:])
    assert (got["maxphy"], got["gib"]) == cpu                   # the host's, as the guest sees it
    assert got["pages"] == MEM // 4096 and (got["bad"], got["firstbad"]) == (0, 2**64 - 1)
    m = got["maxphy"]
    powers = [1 << k for k in range(12, m)]
    probes = [MEM] + powers + [(1 << m) - 8] + [a for _, a in named]
    assert list(got["addrs"]) == probes
    assert faults == expected_faults(probes, MEM)
    outside = [n for n, a in named if a >= MEM]
    assert len(outside) >= len(named) - 2 and "heap tail" in outside
    ram = repl.eval("[struct.unpack('<Q', vm.read(p, 8))[0] for p in %r]" % (probes,))
    for p, v, mine in zip(probes, got["values"], ram):
        if p >= MEM:
            assert v == 0xF417F417F417F417, hex(p)             # only the VMM's marker
        else:
            assert v == mine, hex(p)                            # the guest's own RAM
            if p >= 0x20000 and not p & 0xFFF:
                assert v == p ^ 0x5AFEC0DE00000000, hex(p)     # the pattern the test wrote
    # Nothing written: host canaries, kernel text, the second VM's RAM.
    assert repl.eval("bytes(frame.mem) == pattern(frame.start_paddr, 4096)") is True
    assert repl.eval("heap[-4096:] == pattern(0, 4096) and heap[:4096] == bytes(4096)") is True
    assert repl.eval("bytes(hw.mem(kstart, 4096)) == ktext") is True
    assert repl.eval("vm2.read(0x800000, 4096) == pattern(0x800000, 4096)") is True
    assert repl.eval("leaves_ok(vm, [vm2])") == "ok"
    assert repl.eval("leaves_ok(vm2, [vm])") == "ok"
    r2 = repl.eval("(lambda r: (r.reason, r.output.count(b' ok'), r.output.count(b'BAD')))"
                   "(vm2.run(c2, echo=False, max_exits=100000))", timeout=300)
    assert r2[0] == "Halt" and r2[1] >= 10 and r2[2] == 0      # vm2's guest still runs right
    assert repl.eval("vm2.read(0x800000, 4096) == pattern(0x800000, 4096)") is True
    assert repl.eval("(vm.close(), vm2.close(), frame.close(), "
                     "hv.frames.free_count() == free_at_start)[-1]") is True


def test_default_vmm_stops_at_the_first_access_outside_ram(repl):
    repl.exec(SETUP)
    repl.exec(f"""
frame = hv.PhysFrame.alloc()
frame.mem[:] = pattern(frame.start_paddr, 4096)
vm, c = iso_vm({MEM}, 1, [frame.start_paddr])
r = vm.run(c, echo=False, max_exits=1000)
""")
    got = repl.eval("(r.reason, r.exit.addr, r.exit.reason, r.exits, c.rip == c.get_gpr(15))")
    assert got[0] == "UnhandledMmio" and got[1:3] == (MEM, "MmioRead") and got[4] is True
    assert got[3] < 50
    assert repl.eval("results(vm)['pages']") == MEM // 4096
    assert repl.eval("bytes(frame.mem) == pattern(frame.start_paddr, 4096)") is True
    assert repl.eval("(vm.close(), frame.close(), hv.frames.free_count() == free_at_start)[-1]") is True


RECYCLE = """
class Recycle(hv.PhysFrameIf):
    # hv.frames, but what the VMs free is kept and handed out first (runs
    # of the same size whole, else split into frames): the next VM gets the
    # previous VM's dirty frames for certain. drain() gives all back.
    def __init__(self, inner):
        self.inner, self.stash, self.runs = inner, [], []
    def alloc_frame(self):
        if not self.stash and self.runs:
            pa, n = self.runs.pop()
            self.stash.extend(pa + 4096 * i for i in range(n))
        return self.stash.pop() if self.stash else self.inner.alloc_frame()
    def alloc_frames(self, count, align=1):
        for i in range(len(self.runs)):
            pa, n = self.runs[i]
            if n == count and pa % (4096 * align) == 0:
                return self.runs.pop(i)[0]
        return self.alloc_frame() if count == 1 else self.inner.alloc_frames(count, align)
    def dealloc_frame(self, pa):
        self.stash.append(pa)
    def dealloc_frames(self, pa, n):
        self.runs.append((pa, n))
    def phys_to_virt(self, pa):
        return self.inner.phys_to_virt(pa)
    def mem(self, pa, size):
        return self.inner.mem(pa, size)
    def free_count(self):
        return self.inner.free_count() + len(self.stash) + sum(n for _, n in self.runs)
    def drain(self):
        for pa in self.stash:
            self.inner.dealloc_frame(pa)
        for pa, n in self.runs:
            self.inner.dealloc_frames(pa, n)
        self.stash, self.runs = [], []

def ram_frames(vm):
    return set(h + o for _, h, s in vm.npt.leaves() for o in range(0, s, 4096))

def scrub_run(rec, op, prealloc):
    vm = hv.VM(4 << 20, rec, prealloc=prealloc)
    c = vm.load_flat(guests.ISOLATE, 0x10000, 0x10000, 'long')
    vm.write(PARAMS, struct.pack('<2Q', op, 4 << 20))
    r = vm.run(c, echo=False, max_exits=5000)
    nonzero = struct.unpack('<Q', vm.read(RESULTS + 40, 8))[0]
    out = (r.reason, r.exits, ram_frames(vm), nonzero, vm.read(0x3FF000, 8))
    vm.close()
    return out
"""


def test_a_new_vm_sees_zeros_where_a_closed_vm_wrote(repl):
    # VM A fills its RAM and is closed; VM B (all RAM mapped at once) and
    # then VM C (RAM faulted in page by page) get A's frames back, VMCB/VMCS
    # and nested tables included, and count non-zero qwords from inside.
    repl.exec(SETUP)
    repl.exec(RECYCLE)
    got = repl.eval("""(lambda: (
        rec := Recycle(hv.frames),
        a := scrub_run(rec, 2, True), b := scrub_run(rec, 3, True), cc := scrub_run(rec, 3, False),
        rec.drain(),
        t := __import__('hv.vmm.platform').vmm.platform.acpi_tables(False),
        acpi := sum(1 for i in range(0, len(t), 8) if any(t[i:i + 8])),
        (a[0], a[4], b[0], b[3] - acpi, a[2] == b[2], len(a[2]), cc[0], cc[3] - acpi, cc[1],
         len(cc[2] & a[2]), hv.frames.free_count() == free_at_start))[-1])()""", timeout=300)
    # Non-zero: only the ACPI tables every VM gets at 0xE0000 (hv.vmm.run).
    assert got[0] == "Halt" and got[1] == b"\xc5" * 8          # A filled its RAM
    assert got[2] == "Halt" and got[3] == 0                     # B reads zeros
    assert got[4] is True and got[5] == 1024                    # ... on exactly A's frames
    assert got[6] == "Halt" and got[7] == 0                     # C reads zeros
    assert got[8] > 900 and got[9] > 900                        # faulted in, on A's frames
    assert got[10] is True
