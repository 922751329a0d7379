# The exit record a vCPU's run() returns (x86_vcpu's AxVCpuExitReason): the
# reasons and the fields each sets, one reused Exit per vCPU, and
# UnexpectedExit for an exit a back end has no handler for. Arch-neutral;
# bare metal and CPython. hv.vcpu.api re-exports these names.

# Exit reasons, and the fields each one sets (AxVCpuExitReason).
FIELDS = {
    "Hypercall": ("nr", "args"),
    "IoRead": ("port", "width"),
    "IoWrite": ("port", "width", "data"),
    "MmioRead": ("addr", "width"),
    "MmioWrite": ("addr", "width", "data"),
    "SysRegRead": ("msr",),
    "SysRegWrite": ("msr", "value"),
    "NestedPageFault": ("addr", "access"),
    "ExternalInterrupt": ("vector",),
    "Halt": (),
    "SystemDown": (),
    "FailEntry": ("code", "message"),
    "Nothing": (),
}
_ATTRS = ("reason", "nr", "args", "port", "width", "data", "addr", "access", "msr",
          "value", "vector", "code", "message", "stop")


class Exit:
    """One exit record. A vCPU reuses its record (no allocation per exit):
    it is valid until the next run(); keep copy() or as_tuple()."""

    def __init__(self):
        self.reason = "Nothing"
        self.nr = self.args = self.port = self.width = self.data = None
        self.addr = self.access = self.msr = self.value = self.vector = None
        self.code = self.message = None
        self.stop = None            # a registered handler's reason to end the run

    def as_tuple(self):
        return (self.reason,) + tuple(getattr(self, f) for f in FIELDS[self.reason])

    def copy(self):
        e = Exit()
        for a in _ATTRS:
            setattr(e, a, getattr(self, a))
        return e

    def __repr__(self):
        parts = []
        for f in FIELDS[self.reason]:
            v = getattr(self, f)
            parts.append("%s=%s" % (f, hex(v) if isinstance(v, int) and f != "width" else repr(v)))
        return "<Exit %s%s>" % (self.reason, " " + " ".join(parts) if parts else "")


class UnexpectedExit(Exception):
    """An exit the back end has no handler for: the code and a state dump."""
