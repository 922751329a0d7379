"""Fakes for the SVM host tests (CPython): physical memory, the `hw` natives
(CPUID of an SVM CPU, MSRs, XCR0) and the `svm` natives, whose run() plays a
scripted guest: each step edits the VMCB and register file and returns an
exit code, as #VMEXIT would. Also installs the memory behind viper's
pointer casts (viper_host) so hv.vcpu.svm.vmcb and hv.vcpu.svm.nextrip run here.
"""
import struct

import fake_natives
import viper_host
from hv.host.allocator import BitmapFrameAllocator
from hv.vcpu.svm import vmcb as V

MiB = 1 << 20
RAM_END = 48 * MiB


class Memory:
    """Physical memory 0..RAM_END as one bytearray."""

    def __init__(self, size=RAM_END):
        self.data = bytearray(size)

    def read(self, addr, n):
        assert 0 <= addr and addr + n <= len(self.data), hex(addr)
        return bytes(self.data[addr:addr + n])

    def write(self, addr, data):
        assert 0 <= addr and addr + len(data) <= len(self.data), hex(addr)
        self.data[addr:addr + len(data)] = data

    def mem(self, addr, n):
        assert 0 <= addr and addr + n <= len(self.data), hex(addr)
        return memoryview(self.data)[addr:addr + n]


class CPUFault(Exception):
    pass


SIGNATURE_AMD = struct.unpack("<3I", b"AuthenticAMD")


class FakeHw:
    """The subset of `hw` the SVM back end uses, for an AMD CPU with SVM."""
    CPUFault = CPUFault

    def __init__(self, memory, nrips=False, vm_cr=0, xsave=True, decode_assists=False):
        self.memory = memory
        self.msrs = {0xC0000080: 0x500, 0xC0010117: 0}
        if vm_cr is not None:
            self.msrs[0xC0010114] = vm_cr
        self.xcr0 = 3
        self.xsave = xsave
        self.cpuid_table = {
            0: (0xD, SIGNATURE_AMD[0], SIGNATURE_AMD[2], SIGNATURE_AMD[1]),
            1: (0x00800F11, 0x800, 0x80002001 | ((1 << 26) if xsave else 0) | (1 << 5), 0x0789FBFF),
            0xD: (0x7, 0x240, 0x340, 0),
            0x80000000: (0x8000000A, 0, 0, 0),
            0x80000001: (0, 0, 0x4, 0x28100800),         # SVM; SYSCALL, NX, LM
            0x8000000A: (1, 16, 0, 1 | (8 if nrips else 0) | 0x40 | (0x80 if decode_assists else 0)),
        }

    def cpuid(self, leaf, sub=0):
        # cpuid_table: by (leaf, sub) for a sub-leaf, else by leaf
        return self.cpuid_table.get((leaf, sub), self.cpuid_table.get(leaf, (0, 0, 0, 0)))

    def rdmsr(self, msr):
        if msr not in self.msrs:
            raise CPUFault("#GP")
        return self.msrs[msr]

    def wrmsr(self, msr, value):
        self.msrs[msr] = value

    def cr4(self):
        return 0x40620 if self.xsave else 0x620

    tsc = 0

    def rdtsc(self):                    # 1 us per read at tsc_hz()
        self.tsc += 1000
        return self.tsc

    def tsc_hz(self):
        return 1_000_000_000

    def xgetbv(self, index):
        return self.xcr0

    def xsetbv(self, index, value):
        self.xcr0 = value

    def mem(self, addr, n):
        return self.memory.mem(addr, n)

    def fill(self, addr, n, byte):
        assert 0 <= byte <= 0xFF
        self.memory.mem(addr, n)[:] = bytes([byte]) * n

    def _rd(self, addr, n):
        return int.from_bytes(self.memory.read(addr, n), "little")

    def _wr(self, addr, n, v):
        self.memory.write(addr, (v & ((1 << (8 * n)) - 1)).to_bytes(n, "little"))

    def read8(self, a): return self._rd(a, 1)        # noqa: E704
    def read16(self, a): return self._rd(a, 2)       # noqa: E704
    def read32(self, a): return self._rd(a, 4)       # noqa: E704
    def read64(self, a): return self._rd(a, 8)       # noqa: E704
    def write8(self, a, v): self._wr(a, 1, v)        # noqa: E704
    def write16(self, a, v): self._wr(a, 2, v)       # noqa: E704
    def write32(self, a, v): self._wr(a, 4, v)       # noqa: E704
    def write64(self, a, v): self._wr(a, 8, v)       # noqa: E704


class FakeSvm(fake_natives.FastIoNatives):
    """The `svm` natives. run() pops the next step of the scripted guest:
    step(vmcb, gprs) -> exit code, also written to EXITCODE (as 32 bits, the
    way QEMU does, when qemu_exitcode)."""

    def __init__(self, qemu_exitcode=True):
        self.steps = []
        self.entries = []           # what each VMRUN saw: (EVENTINJ, VINTR, TLB_CONTROL)
        self.vector = -1
        self.qemu_exitcode = qemu_exitcode

    tsc = None                      # the host's TSC (Machine: FakeHw.rdtsc)

    def run(self, pa, gprs, host, clock):
        # As port/modsvm.c: exits the fast ports serve go on to the next step.
        while True:
            code = self._run_one(pa, gprs, host, clock)
            if code != 0x7B or not self._serve(V.Vmcb(pa)):
                return code

    def _serve(self, v):
        info = v.get(V.EXITINFO1)
        if info & 0xC or not info & 0x10:
            return False
        rax = v.get(V.RAX)
        got = fake_natives.fast_io_serve(self.fast, info >> 16, info & 1, rax & 0xFF)
        if got is None:
            return False
        if info & 1:
            v.set(V.RAX, rax & ~0xFF | got)
        v.set(V.RIP, v.get(V.EXITINFO2))
        v.set(V.INTERRUPT_STATE, 0)
        self.served += 1
        return True

    def _run_one(self, pa, gprs, host, clock):
        v = V.Vmcb(pa)
        v.set(V.TSC_OFFSET, fake_natives.entering(clock, self.tsc))
        self.entries.append((v.get(V.EVENTINJ), v.get(V.VINTR), v.get(V.TLB_CONTROL),
                             v.get(V.INTERCEPT_MISC1)))
        v.set(V.EVENTINJ, 0)                    # consumed by the entry (APM2 15.20)
        v.set(V.EXITINTINFO, 0)
        if not self.steps:
            raise AssertionError("the guest script ran out")
        code = self.steps.pop(0)(v, gprs)
        fake_natives.exited(clock, self.tsc)
        if self.qemu_exitcode:
            v.set(V.EXITCODE, code & 0xFFFFFFFF)
            return code & 0xFFFFFFFF
        v.set(V.EXITCODE, code)
        return code & 0xFFFFFFFFFFFFFFFF

    def intr_vector(self):
        return self.vector


def exit_with(code, info1=0, info2=0, **fields):
    """A guest step that sets VMCB fields (names of hv.vcpu.svm.vmcb constants,
    lower case) and EXITINFO1/2, then exits with code."""
    def step(v, gprs):
        for name, value in fields.items():
            v.set(getattr(V, name.upper()), value)
        v.set(V.EXITINFO1, info1)
        v.set(V.EXITINFO2, info2)
        return code
    return step


class Machine:
    """Memory, fake natives and an allocator over 1 MiB..RAM_END."""

    def __init__(self, nrips=False, vm_cr=0, xsave=True, qemu_exitcode=True, decode_assists=False):
        self.memory = Memory()
        viper_host.use(self.memory)
        self.hw = FakeHw(self.memory, nrips=nrips, vm_cr=vm_cr, xsave=xsave,
                         decode_assists=decode_assists)
        self.svm = FakeSvm(qemu_exitcode)
        self.svm.tsc = self.hw.rdtsc
        self.allocator = BitmapFrameAllocator([(MiB, RAM_END - MiB)], [], self.memory.mem)

    def use_tsc(self, tsc):
        """The host's TSC is `tsc` (a VMM's fake), for the natives too."""
        self.hw.rdtsc = self.svm.tsc = tsc

    def vm(self, mem_size=16 * MiB, **kw):
        from hv.vmm.vm import VM
        return VM(mem_size, self.allocator, io=self.hw, native=self.svm, arch="amd", **kw)
