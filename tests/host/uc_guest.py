# Runs one generated fuzz guest (tests/payloads/fuzzref.py) in Unicorn on the
# host, for tests/host/test_fuzzref.py: COM1 answered, port 0xF4 ends it,
# the registers captured where the epilogue starts, every memory access
# recorded. Host CPython only. Unicorn (a QEMU 5 TCG) is not a reference for
# the comparison itself: it zero-extends a failed CMPXCHG r32's destination.
from unicorn import UC_ARCH_X86, UC_HOOK_CODE, UC_HOOK_INSN, UC_HOOK_MEM_READ, \
    UC_HOOK_MEM_WRITE, UC_MODE_16, UC_MODE_32, UC_MODE_64, Uc
from unicorn import x86_const as R

import fuzzref

_MODE = {"real": UC_MODE_16, "protected": UC_MODE_32, "long": UC_MODE_64}
_GPR64 = [R.UC_X86_REG_RAX, R.UC_X86_REG_RCX, R.UC_X86_REG_RDX, R.UC_X86_REG_RBX,
          R.UC_X86_REG_RSP, R.UC_X86_REG_RBP, R.UC_X86_REG_RSI, R.UC_X86_REG_RDI] + \
    [getattr(R, "UC_X86_REG_R%d" % i) for i in range(8, 16)]
_GPR32 = [R.UC_X86_REG_EAX, R.UC_X86_REG_ECX, R.UC_X86_REG_EDX, R.UC_X86_REG_EBX,
          R.UC_X86_REG_ESP, R.UC_X86_REG_EBP, R.UC_X86_REG_ESI, R.UC_X86_REG_EDI]


class Run:
    """output (bytes to COM1), ended (port 0xF4 written), regs and rflags at
    the epilogue, reads and writes [(address, size)] in the body, memory(addr, n)."""


def run(g, max_insns=500000):
    uc = Uc(UC_ARCH_X86, _MODE[g.mode])
    uc.mem_map(0, 2 << 20)
    uc.mem_write(fuzzref.LOAD, g.blob)
    res = Run()
    res.output, res.ended, res.regs, res.rflags = bytearray(), False, None, None
    res.reads, res.writes = [], []
    in_body = [True]

    def port_in(uc, port, size, _):
        return 0x20 if port == 0x3FD else 0xFF          # COM1 LSR: transmitter idle

    def port_out(uc, port, size, value, _):
        if port == 0x3F8:
            res.output.append(value & 0xFF)
        elif port == 0xF4:
            res.ended = True
            uc.emu_stop()

    def epilogue(uc, addr, size, _):
        regs = _GPR64 if g.mode == "long" else _GPR32
        res.regs = [uc.reg_read(r) for r in regs]
        res.rflags = uc.reg_read(R.UC_X86_REG_EFLAGS)
        in_body[0] = False

    def access(uc, kind, addr, size, value, into):
        if in_body[0]:
            into.append((addr, size))

    uc.hook_add(UC_HOOK_INSN, port_in, None, 1, 0, R.UC_X86_INS_IN)
    uc.hook_add(UC_HOOK_INSN, port_out, None, 1, 0, R.UC_X86_INS_OUT)
    at = fuzzref.LOAD + g.body_end
    uc.hook_add(UC_HOOK_CODE, epilogue, None, at, at)
    uc.hook_add(UC_HOOK_MEM_READ, access, res.reads)
    uc.hook_add(UC_HOOK_MEM_WRITE, access, res.writes)
    if g.mode == "real":
        uc.reg_write(R.UC_X86_REG_CS, fuzzref.LOAD >> 4)
        uc.emu_start(0, 0, count=max_insns)
    else:
        uc.emu_start(fuzzref.LOAD, 0, count=max_insns)
    res.memory = lambda addr, n: bytes(uc.mem_read(addr, n))
    return res
