"""Fakes for the VMX host tests (CPython): physical memory, the `hw` natives
of an Intel CPU with VMX (its capability MSRs as Bochs 2.7 corei7_skylake_x
reports them) and the `vmx` natives: VMCSs as dicts of encodings, with the
VMfail rules the tests rely on, and a run() that plays a scripted guest:
each step edits the current VMCS and register file and returns an exit
reason, as a VM exit would.
"""
import fake_natives
from hv.host.allocator import BitmapFrameAllocator
from hv.vcpu.vmx import fields as F
from bochs_vmx_msrs import BOCHS_MSRS

MiB = 1 << 20
RAM_END = 48 * MiB

GDT_BASE, IDT_BASE, TSS_BASE = 0x178590, 0x117E6E0, 0x123450


class Memory:
    def __init__(self, size=RAM_END):
        self.data = bytearray(size)

    def mem(self, addr, n):
        assert 0 <= addr and addr + n <= len(self.data), hex(addr)
        return memoryview(self.data)[addr:addr + n]


class CPUFault(Exception):
    pass


class FakeHw:
    CPUFault = CPUFault

    def __init__(self, memory, msrs=None, xsave=True):
        self.memory = memory
        self.msrs = dict(BOCHS_MSRS if msrs is None else msrs)
        self.cr0_value, self.cr3_value = 0x80010033, 0x100000
        self.cr2_value = 0
        self.cr4_value = 0x40620 if xsave else 0x620
        self.xcr0 = 3
        intel = (0x756E6547, 0x6C65746E, 0x49656E69)            # "GenuineIntel"
        self.cpuid_table = {
            0: (0x16, intel[0], intel[2], intel[1]),
            1: (0x50654, 0x800, 0x80202021 | ((1 << 26) if xsave else 0), 0x0789FBFF),
            0xD: (0x7, 0x240, 0x340, 0),
            0x80000000: (0x80000008, 0, 0, 0),
            0x80000001: (0, 0, 0x121, 0x2C100800),       # SYSCALL, NX, RDTSCP, LM
            0x80000008: (0x3028, 0, 0, 0),
        }
        # A 64-bit TSS descriptor at selector 0x18 (SDM 3A 8.2.3).
        self.write64(GDT_BASE + 0x18, 0x67 | (TSS_BASE & 0xFFFFFF) << 16 | 0x89 << 40
                     | (TSS_BASE >> 24 & 0xFF) << 56)
        self.write64(GDT_BASE + 0x20, TSS_BASE >> 32)

    def cpuid(self, leaf, sub=0):
        # cpuid_table: by (leaf, sub) for a sub-leaf, else by leaf
        return self.cpuid_table.get((leaf, sub), self.cpuid_table.get(leaf, (0, 0, 0, 0)))

    def rdmsr(self, msr):
        if msr not in self.msrs:
            raise CPUFault("#GP")
        return self.msrs[msr]

    def wrmsr(self, msr, value):
        if msr not in self.msrs:
            raise CPUFault("#GP")
        self.msrs[msr] = value

    def _cr(name):
        def access(self, value=None):
            if value is None:
                return getattr(self, name)
            setattr(self, name, value)
        return access

    cr0 = _cr("cr0_value")
    cr2 = _cr("cr2_value")
    cr3 = _cr("cr3_value")
    cr4 = _cr("cr4_value")

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
        return int.from_bytes(self.memory.mem(addr, n), "little")

    def _wr(self, addr, n, v):
        self.memory.mem(addr, n)[:] = (v & ((1 << (8 * n)) - 1)).to_bytes(n, "little")

    def read8(self, a): return self._rd(a, 1)        # noqa: E704
    def read16(self, a): return self._rd(a, 2)       # noqa: E704
    def read32(self, a): return self._rd(a, 4)       # noqa: E704
    def read64(self, a): return self._rd(a, 8)       # noqa: E704
    def write8(self, a, v): self._wr(a, 1, v)        # noqa: E704
    def write16(self, a, v): self._wr(a, 2, v)       # noqa: E704
    def write32(self, a, v): self._wr(a, 4, v)       # noqa: E704
    def write64(self, a, v): self._wr(a, 8, v)       # noqa: E704


class VMXFail(Exception):
    def __init__(self, message, error):
        super().__init__(message, error)
        self.error = error


class FakeVmx(fake_natives.FastIoNatives):
    """The `vmx` natives over dict VMCSs. VMREAD/VMWRITE need a current VMCS
    (else VMfailInvalid); VMWRITE to a read-only field (type 1, bits 11:10)
    is error 13; VMLAUNCH of a launched VMCS error 4, VMRESUME of a clear one
    error 5 (SDM 3C 31.4), as on hardware."""
    VMXFail = VMXFail

    def __init__(self, hw):
        self.hw = hw
        self.vmxon_pa = None
        self.vmcs = {}              # pa -> {field: value}
        self.launched = {}          # pa -> bool
        self.current = None
        self.steps = []
        self.entries = []           # per entry: (VM_ENTRY_INTR_INFO, processor-based controls)
        self.flushes = []           # ("invept", type, eptp) / ("invvpid", type, vpid)
        self.entry_error = None     # VM-instruction error the next entry fails with

    def _fail(self, what, error):
        if error == 0:
            raise VMXFail(what + ": VMfailInvalid (no current VMCS)", 0)
        self.vmcs[self.current][F.VM_INSTRUCTION_ERROR] = error
        raise VMXFail("%s: VMfailValid, VM-instruction error %d" % (what, error), error)

    def vmxon(self, pa):
        assert self.hw.cr4_value & (1 << 13), "VMXON with CR4.VMXE = 0 is #UD"
        if self.vmxon_pa is not None:
            self._fail("vmxon", 15 if self.current else 0)
        rev = int.from_bytes(self.hw.mem(pa, 4), "little")
        assert rev == self.hw.msrs[0x480] & 0x7FFFFFFF
        self.vmxon_pa = pa

    def vmxoff(self):
        if self.vmxon_pa is None:
            raise CPUFault("#UD")
        self.vmxon_pa = self.current = None

    def vmclear(self, pa):
        self.vmcs.setdefault(pa, {})
        self.launched[pa] = False
        if self.current == pa:
            self.current = None

    def vmptrld(self, pa):
        assert int.from_bytes(self.hw.mem(pa, 4), "little") == self.hw.msrs[0x480] & 0x7FFFFFFF
        self.vmcs.setdefault(pa, {})
        self.launched.setdefault(pa, False)
        self.current = pa

    def vmptrst(self):
        return 0xFFFFFFFFFFFFFFFF if self.current is None else self.current

    def vmread(self, field):
        if self.current is None:
            self._fail("vmread", 0)
        return self.vmcs[self.current].get(field, 0)

    def vmwrite(self, field, value):
        if self.current is None:
            self._fail("vmwrite", 0)
        if (field >> 10) & 3 == 1:
            self._fail("vmwrite", 13)
        self.vmcs[self.current][field] = value

    def invept(self, kind, eptp):
        self.flushes.append(("invept", kind, eptp))

    def invvpid(self, kind, vpid, gla):
        self.flushes.append(("invvpid", kind, vpid))

    def skip(self):
        v = self.vmcs[self.current]
        v[F.GUEST_RIP] = v.get(F.GUEST_RIP, 0) + v.get(F.VM_EXIT_INSTRUCTION_LEN, 0)
        v[F.GUEST_INTERRUPTIBILITY_INFO] = v.get(F.GUEST_INTERRUPTIBILITY_INFO, 0) & ~3

    def host_segments(self):
        return (0x08, 0x10, 0x10, 0x10, 0, 0, 0x18, GDT_BASE, 0x27, IDT_BASE, 0xFFF)

    def run(self, gprs, launched, clock):
        # As port/modvmx.c: exits the fast ports serve go on to the next step.
        while True:
            reason = self._run_one(gprs, launched, clock)
            if reason != 30 or not self._serve(gprs):
                return reason
            launched = True

    def _serve(self, gprs):
        v = self.vmcs[self.current]
        q = v.get(F.EXIT_QUALIFICATION, 0)
        if q & 0x37:
            return False
        got = fake_natives.fast_io_serve(self.fast, q >> 16, q >> 3 & 1, gprs[0] & 0xFF)
        if got is None:
            return False
        if q & 8:
            gprs[0] = gprs[0] & ~0xFF | got
        self.skip()
        self.served += 1
        return True

    def _run_one(self, gprs, launched, clock):
        if self.current is None:
            self._fail("vmlaunch", 0)
        v = self.vmcs[self.current]
        if launched != self.launched[self.current]:
            self._fail("vmresume" if launched else "vmlaunch", 5 if launched else 4)
        if self.entry_error:
            error, self.entry_error = self.entry_error, None
            self._fail("vmresume" if launched else "vmlaunch", error)
        self.entries.append((v.get(F.VM_ENTRY_INTR_INFO, 0), v.get(F.CPU_BASED_VM_EXEC_CONTROL, 0)))
        # the exit clears the valid bit (SDM 3C 28.2)
        v[F.VM_ENTRY_INTR_INFO] = v.get(F.VM_ENTRY_INTR_INFO, 0) & 0x7FFFFFFF
        for f in (F.IDT_VECTORING_INFO, F.VM_EXIT_INTR_INFO, F.EXIT_QUALIFICATION):
            v[f] = 0
        if not self.steps:
            raise AssertionError("the guest script ran out")
        v[F.TSC_OFFSET] = fake_natives.entering(clock, self.hw.rdtsc)
        reason = self.steps.pop(0)(v, gprs)
        fake_natives.exited(clock, self.hw.rdtsc)
        v[F.VM_EXIT_REASON] = reason
        if not reason >> 31:
            self.launched[self.current] = True
        return reason


def exit_with(reason, **fields):
    """A guest step that sets VMCS fields (names of hv.vcpu.vmx.fields constants,
    lower case) and exits with reason."""
    def step(v, gprs):
        for name, value in fields.items():
            v[getattr(F, name.upper())] = value
        return reason
    return step


class Machine:
    """Memory, fake natives and an allocator over 1 MiB..RAM_END."""

    def __init__(self, msrs=None, xsave=True):
        self.memory = Memory()
        self.hw = FakeHw(self.memory, msrs, xsave)
        self.vmx = FakeVmx(self.hw)
        self.allocator = BitmapFrameAllocator([(MiB, RAM_END - MiB)], [], self.memory.mem)

    def use_tsc(self, tsc):
        """The host's TSC is `tsc` (a VMM's fake), for the natives too."""
        self.hw.rdtsc = tsc

    def vm(self, mem_size=16 * MiB, **kw):
        from hv.vmm.vm import VM
        return VM(mem_size, self.allocator, io=self.hw, native=self.vmx, arch="intel", **kw)
