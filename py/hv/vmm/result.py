# What vm.run() returns: RunResult, how a run ended (the reason, the guest's
# output, the exits, the trace), its report built from hv.vmm.report only
# when read. Arch-neutral; bare metal and CPython.
from hv.vmm import report as _report


class RunResult:
    """How vm.run() ended: `reason` ('DebugExit' when the guest wrote port
    0xF4, then `result` is the value; 'Halt', 'PowerOff' (ACPI S5), 'Reset'
    (8042 pulse, port 0x92, 0xCF9), 'SystemDown', 'FailEntry',
    'NestedPageFault', 'UnknownHypercall', 'UnhandledPort', 'UnhandledMmio', 'ExitBudget',
    'TimeBudget', 'GuestPanic' (the guest's console showed the end of a
    Linux kernel panic), 'HandlerError' with the exception as `error`, likewise
    'Unsupported' (what the vCPU cannot virtualize) and 'OutOfFrames'; the exit's
    reason when stop(exit) said so), the last exit record, the guest's COM1
    output, the number of exits (those the vCPU handled itself included),
    with trace=True every exit the VMM saw as a tuple (COM1 traffic left
    out), and `report`: hv.vmm.report's text."""

    def __init__(self, reason, exit, output, exits, trace, result=None, report="", error=None):
        self.reason = reason
        self.result = result
        self.exit = exit
        self.output = output
        self.exits = exits
        self.trace = trace
        self._report = report           # the text, or hv.vmm.report.build's arguments
        self.error = error

    @property
    def report(self):
        r = self._report
        if type(r) is tuple:
            r = self._report = _report.build(*r)
        return r

    @property
    def ok(self):
        """True when the guest or the caller ended the run (port 0xF4, a
        halt with interrupts off, stop()), not the VMM."""
        return self.reason in _report.NORMAL or self.stopped

    stopped = False

    def __repr__(self):
        what = self.reason if self.result is None else "DebugExit(%d)" % self.result
        return "<RunResult %s after %d exits, %d bytes of output>" % (
            what, self.exits, len(self.output))
