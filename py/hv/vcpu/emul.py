# Running an emulated instruction for the vCPU (an MMIO access, hv.vcpu.mmio;
# a string I/O, hv.vcpu.strio) when one of its accesses must leave run() as
# an exit: the access the VMM has to answer pauses the instruction before it
# (hv.x86.emulate.Pause: nothing of that element is done, earlier REP
# iterations are), the exit goes out, and the element is replayed at the
# next run(): with the value complete() gave for a read, or, after a write
# the VMM has seen, with every access of the element answered from what the
# first pass read, so no device handler is ever called twice for one access.
# What the emulator cannot do raises NotImplementedError (vm.run: 'Unsupported').
# Arch-neutral; runs on the bare-metal port and on CPython (host tests).
from micropython import const
from hv.x86 import string_io
from hv.x86.emulate import Pause, emulate
from hv.x86.fault import GuestFault, PF
from hv.x86.insn import DecodeError

MMIO = const(1)                 # attempt kinds: an MMIO instruction (arg: the faulting GPA)
STRIO = const(2)                # an INS/OUTS (arg: the port)
_NORMAL = const(0)              # _rmode: accesses go to handlers, RAM or out
_SUPPLIED = const(1)            # the element's out-read returns what complete() gave
_CONSUMED = const(3)            # ... and has done so
ECHO = const(2)                 # replay of a seen write: reads answer _supply, writes dropped
_READ_REASON = {MMIO: "MmioRead", STRIO: "IoRead"}
_WRITE_REASON = {MMIO: "MmioWrite", STRIO: "IoWrite"}


class NeedRead(Pause):
    """An access with no handler inside run(): its value must come from the VMM.
    (No base __init__ call: MicroPython's Exception has none.)"""

    def __init__(self, addr, width):
        self.addr, self.width = addr, width


class WriteOut(Pause):
    """A write with no handler inside run(): the VMM must see it."""

    def __init__(self, addr, width, value):
        self.addr, self.width, self.value = addr, width, value


class Emulation:
    """Mixed into hv.vcpu.api.VCpu: the state of an emulated instruction
    that an exit interrupted, and its replay at the next run()."""

    def _init_emulation(self):
        self._rmode = _NORMAL
        self._akind = 0                 # the kind of the attempt running now
        self._supply = None             # the paused element's read value
        self._last_read = 0             # the last value a read inside the attempt returned
        self._replay = None             # None, or the mode the next run() replays in
        self._rp = None                 # (kind, insn, arg, rip) of the paused instruction
        self._rp_rip = 0                # the RIP of the instruction being emulated (ring entries)
        self._stop_data = 0             # the last value an OUTS gave a handler

    def _out(self, addr, width, value):
        # An access nothing inside run() answers: a supplied read, else pause.
        if value is None:
            if self._rmode == _SUPPLIED:
                self._rmode = _CONSUMED
                self._last_read = v = self._supply
                return v
            if self._rmode == _CONSUMED:
                raise NotImplementedError("an emulated element read twice where the VMM "
                                          "answers (at %#x)" % addr)
            raise NeedRead(addr, width)
        raise WriteOut(addr, width, value)

    def _attempt(self, kind, d, arg, rip, mode):
        # Run d (decoded, at rip) from where its registers say; None when it
        # completed or the guest got an exception, else the exit to return.
        self._rmode, self._akind, self._rp_rip = mode, kind, rip
        why = None
        try:
            if kind == MMIO:
                emulate(d, self, arg, 1 if mode else 0)
            else:
                why = string_io.run(d, arg, self._port, 1 if mode else 0)
        except NeedRead as p:
            self._rp = (kind, d, arg, rip)
            self._supply = self._replay = None
            self._pending_read = (kind, p.width)
            return self._paused(_READ_REASON[kind], p, rip, None)
        except WriteOut as p:
            # Its reads are replayed from this pass: MOVS and OUTS write what
            # they read, XCHG and the ALU forms read before they write.
            self._supply = self._last_read
            self._rp = (kind, d, arg, rip)
            self._replay = ECHO
            return self._paused(_WRITE_REASON[kind], p, rip, p.value)
        except DecodeError as e:            # e.g. an access across a page boundary
            self._supply = self._replay = None
            raise NotImplementedError("%s at rip %#x: %s" % (
                "MMIO" if kind == MMIO else "string I/O", rip, e))
        except GuestFault as f:
            self._supply = self._replay = None
            if f.vector == PF and f.cr2 is not None:
                self.set_cr2(f.cr2)     # the guest's CR2 (SDM 3A 4.7)
            self.inject_exception(f.vector, f.error_code)
            return None
        finally:
            self._rmode = _NORMAL
        self._supply = None
        self.clear_shadow()             # the instruction ran: an STI/MOV SS shadow ends
        if why is not None:
            e = self.exit
            e.reason, e.stop = "IoWrite", why
            e.port, e.width, e.data = arg, d.width, self._stop_data
            self.exit_rip = rip
            return e
        return None

    def _paused(self, reason, p, rip, data):
        e = self.exit
        e.reason = reason
        self.exit_rip = rip
        if reason[0] == "M":
            e.addr = p.addr
        else:
            e.port = p.addr
        e.width, e.data = p.width, data
        return e

    def _resume(self):
        # At the start of run(): finish the element an exit paused.
        mode, self._replay = self._replay, None
        kind, d, arg, rip = self._rp
        return self._attempt(kind, d, arg, rip, mode)

    def _supplied(self, kind, width, value):
        # complete() of a paused read: the element runs at the next run().
        self._supply = value
        self._replay = _SUPPLIED

    def _drop_paused(self):
        # retry() or fault(): the paused element is never done.
        self._replay = self._supply = None
