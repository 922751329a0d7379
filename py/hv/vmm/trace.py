# Readable exit traces for people at the REPL: `vm.trace = True` makes
# vm.run() print one line per exit as it happens (COM1 traffic shows as the
# guest's output instead), describe() formats any exit tuple the same way,
# and Ring keeps the last few exits for hv.vmm.report. Arch-neutral; runs on
# the bare-metal port and on CPython.
from hv.vcpu.api import FIELDS

HYPERCALLS = {1: "HC_ADD", 2: "HC_INJECT"}
LINE_MAX = 4096                 # a guest line held longer than this goes out in pieces
WITH_EXIT_RIP = ("IoRead", "IoWrite", "SysRegRead", "SysRegWrite", "Hypercall", "MmioRead",
                 "MmioWrite")


def _value(v):
    if isinstance(v, int):
        return hex(v)
    if isinstance(v, tuple):
        return "(" + ", ".join(_value(x) for x in v) + ")"
    return str(v)


def describe(t, names=None):
    """One exit tuple (e.as_tuple() or an r.trace entry) as text, e.g.
    'IoWrite port=0x43 width=1 data=0x34 (PIT)'."""
    reason = t[0]
    fields = FIELDS[reason]
    parts = [reason]
    for i, f in enumerate(fields):
        parts.append("%s=%s" % (f, t[i + 1] if f == "width" else _value(t[i + 1])))
    if (reason == "IoRead" or reason == "MmioRead") and len(t) > len(fields) + 1:
        parts.append("-> %s" % _value(t[-1]))
    if reason.startswith("Io") and names is not None:
        parts.append("(%s)" % names.get(t[1], "absent"))
    elif reason == "Hypercall":
        parts.append("(%s)" % HYPERCALLS.get(t[1], "unknown"))
    return " ".join(parts)


class Printer:
    """What vm.run() calls when vm.trace is on. The guest's console output
    goes through lines(): a line the guest has begun is held until it ends
    (or the run does), so exit lines never cut a guest line in two."""

    def __init__(self, vm, platform):
        self.vm, self.names = vm, platform.names

    def lines(self, write):
        """A writer for the UART that passes on what it is given once a
        newline is among it (the UART forwards a byte at a time), or once
        a line grows to LINE_MAX bytes."""
        held = [b""]

        def write_lines(b):
            data = held[0] + bytes(b)
            if len(data) < LINE_MAX and data.find(b"\n") < 0:
                held[0] = data
            else:
                held[0] = b""
                write(data)
        return write_lines

    def exit(self, n, t, vcpu):
        rip = vcpu.exit_rip if t[0] in WITH_EXIT_RIP else vcpu.rip
        print("[exit %d] %s at rip %#x" % (n, describe(t, self.names), rip))

    def end(self, result):
        print("[vm] %r" % (result,))


class Ring:
    """The last `size` exits the VMM saw, as (n, exit tuple, rip), for the
    report of how a VM ended; add() overwrites the oldest."""

    def __init__(self, size=8):
        self._slots = [None] * size
        self.count = 0

    def add(self, n, t, rip):
        self._slots[self.count % len(self._slots)] = (n, t, rip)
        self.count += 1

    def entries(self):
        """Oldest first."""
        k = len(self._slots)
        if self.count <= k:
            return self._slots[:self.count]
        i = self.count % k
        return self._slots[i:] + self._slots[:i]
