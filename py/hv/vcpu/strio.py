# String I/O for the vCPU: an INS/OUTS exit (SVM IOIO with STR, APM2
# 15.10.2; VMX I/O instruction exit with "string", SDM 3C 28.2.1 Table 28-5)
# described from the exit where the CPU reports enough, else decoded from
# its bytes, and run by hv.x86.string_io: each element goes to the port's
# handler registered inside the vCPU (register_io), the memory side to RAM
# or a registered MMIO device; an element for a port with no handler leaves
# run() as IoRead/IoWrite, one element per exit (hv.vcpu.emul), so vm.run's
# unhandled-port policy applies to it as to IN/OUT. Arch-neutral; bare metal
# and CPython.
from micropython import const
from hv.x86.decode import OP_INS, OP_OUTS, Insn, decode
from hv.x86.fault import GuestFault
from hv.x86.gpr import MASKS
from hv.x86.insn import DecodeError
from hv.vcpu import ring
from hv.vcpu.emul import ECHO, STRIO

ring_put, ring_settle = ring.put, ring.settle
_IN_PENDING, _OUT = const(0x11), const(2)   # ring.IN | ring.PENDING, ring.OUT; width << 5, port << 9


class _Ports:
    """The `cpu` hv.x86.string_io.run drives: the vCPU's registers and
    memory callbacks, and its ports (the vCPU's own io_in/io_out are the
    tables of registered handlers, hence this view)."""

    def __init__(self, c):
        self.c = c
        self.get_gpr, self.set_gpr = c.get_gpr, c.set_gpr
        self.mmio, self.seg_base, self.translate = c.mmio, c.seg_base, c.translate

    @property
    def rip(self):
        return self.c.rip

    @rip.setter
    def rip(self, value):
        self.c.rip = value

    @property
    def rflags(self):
        return self.c.rflags

    def io_in(self, port, width):
        c = self.c
        if c._rmode == ECHO:
            return c._supply
        fn = c._io_in.get(port)
        if fn is None:
            return c._out(port, width, None)
        buf = c.ring_buf
        ring_put(buf, _IN_PENDING | width << 5 | port << 9, 0, c._rp_rip)
        v = fn(port, width) & MASKS[width]
        ring_settle(buf, v)
        return v

    def io_out(self, port, width, value):
        c = self.c
        if c._rmode == ECHO:
            return None
        fn = c._io_out.get(port)
        if fn is None:
            return c._out(port, width, value)
        ring_put(c.ring_buf, _OUT | width << 5 | port << 9, value, c._rp_rip)
        c._stop_data = value
        return fn(port, width, value)


class StringIo:
    """Mixed into hv.vcpu.api.VCpu; the back end's I/O exit handler calls
    string_io() for INS/OUTS, RIP still on the instruction."""

    def _init_strio(self):
        self._io_insn = Insn()
        self._port = _Ports(self)

    def string_io(self, port, width, is_in, rep, addr_bits, seg, length):
        """The INS (is_in) or OUTS on `port` the exit reports: width in
        bytes, REP, address size (0: not reported), segment (-1: not
        reported; INS always writes ES) and instruction length (0: not
        reported). None when handled inside, else the exit to return."""
        d = self._io_insn
        rip = self.rip
        bits = self.code_bits()
        if addr_bits and length and (is_in or seg >= 0):
            d.set_string_io(is_in, width, rep, addr_bits, seg, length, bits)
        else:
            try:
                decode(d, self.fetch_code(rip, bits), bits)
            except GuestFault as f:
                self.inject_exception(f.vector, f.error_code)
                return None
            except DecodeError as e:
                raise NotImplementedError("string I/O on port %#x at rip %#x: %s" % (port, rip, e))
            if d.op != (OP_INS if is_in else OP_OUTS) or d.width != width:
                raise NotImplementedError(
                    "string I/O exit on port %#x (%s, %d bytes) at rip %#x, but the "
                    "instruction there is not that %r" % (port, "INS" if is_in else "OUTS",
                                                         width, rip, d))
        return self._attempt(STRIO, d, port, rip, 0)
