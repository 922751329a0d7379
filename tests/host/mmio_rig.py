"""One scripted guest for the MMIO and string I/O host tests, on either back
end's fakes (svm_fakes, vmx_fakes): code assembled with nasm at LOAD, the
vCPU in long mode there, and steps that exit as the hardware would for the
instruction at RIP (a nested page fault at a GPA, an INS/OUTS, HLT). The
fakes run no guest code: the instructions that exit are all the vCPU's
emulator executes, so a test sets the registers the code would have set.
"""
import os
import subprocess
import tempfile

from hv.x86.decode import Insn, decode
from hv.x86.modrm import DS
from hv.vcpu.svm import defs as sdefs, percpu as spercpu, vmcb as V
from hv.vcpu.vmx import defs as xdefs, fields as F, percpu as xpercpu
import svm_fakes
import vmx_fakes

LOAD = 0x10000
MiB = 1 << 20
DEV = 0xFED00000


def assemble(source, bits=64, org=LOAD):
    with tempfile.TemporaryDirectory() as d:
        src, out = os.path.join(d, "g.asm"), os.path.join(d, "g.bin")
        with open(src, "w") as f:
            f.write("bits %d\norg %#x\n%s\n" % (bits, org, source))
        subprocess.run(["nasm", "-f", "bin", "-o", out, src], check=True)
        with open(out, "rb") as f:
            return f.read()


class Device:
    """A scratch register file of `size` bytes at `base` that logs accesses."""

    def __init__(self, base=DEV, size=0x1000):
        self.base, self.mem, self.log = base, bytearray(size), []

    def read(self, addr, width):
        o = addr - self.base
        v = int.from_bytes(self.mem[o:o + width], "little")
        self.log.append(("r", addr, width, v))
        return v

    def write(self, addr, width, value):
        o = addr - self.base
        self.mem[o:o + width] = value.to_bytes(width, "little")
        self.log.append(("w", addr, width, value))


class Fifo:
    """A port: IN returns the queued values in turn, OUT logs."""

    def __init__(self, values=()):
        self.values, self.log = list(values), []

    def read(self, port, width):
        return self.values.pop(0)

    def write(self, port, width, value):
        self.log.append((port, width, value))


class Rig:
    def __init__(self, arch, decode_assists=False, mem=16 * MiB, mode="long"):
        spercpu._owner.state = xpercpu._owner.state = None
        self.arch = arch
        if arch == "svm":
            self.m = svm_fakes.Machine(decode_assists=decode_assists)
            self.native = self.m.svm
        else:
            self.m = vmx_fakes.Machine()
            self.native = self.m.vmx
        self.vm = self.m.vm(mem)
        self.vm.io.console_getc = lambda: None
        c = self.c = self.vm.new_vcpu()
        c.set_entry(LOAD)
        c.setup(mode)
        c.bind()
        self.code = b""
        self.bits = 64 if mode == "long" else 32
        if mode == "long":
            self.map_gib(3)

    def use_vmm(self, tsc, hz, timer):
        """A fresh VMM on the fake TSC `tsc`, which the fake natives read
        too (as hv.vmm.ticks and the world switch share the host's TSC)."""
        from hv.vmm.run import Vmm
        self.m.use_tsc(tsc)
        self.vm.vmm = Vmm(self.vm, tsc=tsc, hz=hz, timer=timer)
        return self.vm.vmm

    def map_gib(self, g, pd=0x6000):
        """Identity-map guest-linear GiB g (2 MiB pages) in the guest's own
        tables: setup('long') maps only the GiBs of RAM (hv.x86.guest_tables)."""
        import struct
        from hv.x86.guest_tables import TABLES_GPA
        table = b"".join(struct.pack("<Q", (g << 30) + (i << 21) | 0x83) for i in range(512))
        self.vm.write(pd, table)
        self.vm.write(TABLES_GPA + 0x2000 + 8 * g, struct.pack("<Q", pd | 3))

    def close(self):
        self.vm.close()
        spercpu._owner.state = xpercpu._owner.state = None

    def load(self, source, **regs):
        self.code = assemble(source, self.bits)
        self.vm.write(LOAD, self.code + b"\xf4" * 16)
        self.c.rip = LOAD
        for name, value in regs.items():
            self.set(name, value)
        return self.code

    def set(self, name, value):
        from hv.x86.regs import NAMES
        if name == "rflags":
            self.c.rflags = value
        else:
            self.c.set_gpr(NAMES.index(name), value)

    def reg(self, name):
        from hv.x86.regs import NAMES
        return self.c.rflags if name == "rflags" else self.c.get_gpr(NAMES.index(name))

    def length_at(self, rip):
        d = Insn()
        return decode(d, self.vm.read(rip, 15), self.bits)

    def set_seg_base(self, seg, base):
        if self.arch == "svm":
            self.c.vmcb.set(V.seg_base(V.ES + 16 * seg), base)
        else:
            self.c.vmcs.writen(F.GUEST_ES_BASE + 2 * seg, base)

    # -- steps: what the CPU reports for the instruction at RIP ---------------
    def npf(self, gpa, write=False, table=False, event=False):
        if self.arch == "svm":
            def step(v, gprs):
                v.set(V.EXITINFO1, (0x200000000 if table else 0x100000000) | 4 | (2 if write else 0))
                v.set(V.EXITINFO2, gpa)
                if event:
                    v.set(V.EXITINTINFO, 0x80000E0E)
                return sdefs.VMEXIT_NPF
            return step

        def xstep(v, gprs):
            v[F.EXIT_QUALIFICATION] = (0x80 if table else 0x180) | (2 if write else 1)
            v[F.GUEST_PHYSICAL_ADDRESS] = gpa
            if event:
                v[F.IDT_VECTORING_INFO] = 0x80000B0E
            return xdefs.EXIT_EPT_VIOLATION
        return xstep

    def npf_bytes(self, gpa, insn_bytes, write=False):
        """SVM with decode assists: the #NPF carries the instruction's bytes."""
        def step(v, gprs):
            v.set(V.EXITINFO1, 0x100000004 | (2 if write else 0))
            v.set(V.EXITINFO2, gpa)
            v.set(V.INSN_BYTES_FETCHED, len(insn_bytes))
            self.m.memory.write(v.pa + V.INSN_BYTES, insn_bytes)
            return sdefs.VMEXIT_NPF
        return step

    def string(self, port, width, is_in, rep=False, addr_bits=64, seg=DS, info=True):
        """An INS/OUTS exit; info=False: the CPU reports neither address
        size nor segment (SVM under QEMU TCG; VMX without INS/OUTS info)."""
        if self.arch == "svm":
            def step(v, gprs):
                rip = v.get(V.RIP)
                i = port << 16 | width << 4 | sdefs.IOIO_STR | (sdefs.IOIO_REP if rep else 0) | (
                    1 if is_in else 0)
                if info:
                    i |= {16: sdefs.IOIO_A16, 32: sdefs.IOIO_A32, 64: sdefs.IOIO_A64}[addr_bits]
                    i |= seg << sdefs.IOIO_SEG_SHIFT
                v.set(V.EXITINFO1, i)
                v.set(V.EXITINFO2, rip + self.length_at(rip))
                return sdefs.VMEXIT_IOIO
            return step

        def xstep(v, gprs):
            rip = v[F.GUEST_RIP]
            v[F.EXIT_QUALIFICATION] = (port << 16 | (width - 1) | (8 if is_in else 0) | 0x10
                                       | (0x20 if rep else 0))
            v[F.VMX_INSTRUCTION_INFO] = {16: 0, 32: 1, 64: 2}[addr_bits] << 7 | seg << 15
            v[F.VM_EXIT_INSTRUCTION_LEN] = self.length_at(rip)
            return xdefs.EXIT_IO_INSTRUCTION
        if not info:
            self.c.caps.basic &= ~xdefs.BASIC_INS_OUTS_INFO
        return xstep

    def stop(self):
        """An exit that returns at once and leaves RIP alone (a #NPF in the
        guest's own table walk: a NestedPageFault)."""
        return self.npf(0x7FF000, table=True)

    def hlt(self):
        if self.arch == "svm":
            return svm_fakes.exit_with(sdefs.VMEXIT_HLT)
        return vmx_fakes.exit_with(xdefs.EXIT_HLT, vm_exit_instruction_len=1)

    def script(self, *steps):
        self.native.steps = list(steps)

    def run(self, *steps):
        """c.run() over these steps (none: what is left of the script)."""
        if steps:
            self.script(*steps)
        return self.c.run()

    def vm_run(self, *steps, **options):
        self.script(*steps)
        return self.vm.run(self.c, echo=False, **options)

    def left(self):
        return len(self.native.steps)

    # -- what the next entry delivers ---------------------------------------
    def injected(self):
        """(vector, error code or None) the last entry injected, or None."""
        if self.arch == "svm":
            ev = self.native.entries[-1][0]
            if not ev & sdefs.EVENT_VALID:
                return None
            return ev & 0xFF, (ev >> 32 if ev & (1 << 11) else None)
        info = self.native.entries[-1][0]
        if not info & xdefs.INTR_VALID:
            return None
        code = self.c.vmcs.read32(F.VM_ENTRY_EXCEPTION_ERROR_CODE) if info & (1 << 11) else None
        return info & 0xFF, code

    def cr2(self):
        return self.c.vmcb.get(V.CR2) if self.arch == "svm" else self.m.hw.cr2_value
