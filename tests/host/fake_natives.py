"""What the world-switch natives share (port/natives.h), for the fake
natives: the guest time's state at each entry and exit (guest_clock_t,
clock_entering(), clock_exited(): the TSC offset an entry loads) and the
fast ports (fast_io_t, fast_io_serve())."""
from hv.vcpu.fastio import IN, OUT
from hv.vmm.ticks import ARMED, CHARGE, DEADLINE, EXITED, ON, STOLEN
from hv.x86.regs import MASK64


def entering(clock, tsc):
    if clock[ON]:
        now = tsc()
        if clock[EXITED]:
            gap = now - clock[EXITED]
            if gap > clock[CHARGE]:
                clock[STOLEN] += gap - clock[CHARGE]
            clock[EXITED] = 0
        if clock[DEADLINE] and clock[DEADLINE] + clock[STOLEN] != clock[ARMED]:
            clock[ARMED] = clock[DEADLINE] + clock[STOLEN]   # the natives set the host's 8254
    return -clock[STOLEN] & MASK64


def exited(clock, tsc):
    if clock[ON]:
        clock[EXITED] = tsc()


class FastIoNatives:
    """fast_io() and fast_served() of a fake `svm` or `vmx` module."""
    fast = None                     # (table, ring, count) of fast_io()
    served = 0

    def fast_io(self, table, ring=None, count=None):
        self.fast = None if table is None else (table, ring, count)

    def fast_served(self):
        return self.served


def fast_io_serve(fast, port, is_in, al):
    """fast: (table, ring, count) as native.fast_io() got them, or None.
    The byte an IN reads, True for an OUT taken, None when it is Python's."""
    if fast is None:
        return None
    table, ring, count = fast
    for e in table:
        if e & 0xFFFF != port:
            continue
        kind = e >> 16 & 0xFF
        if is_in and kind == IN:
            return e >> 24
        if not is_in and kind == OUT and count[0] < len(ring):
            ring[count[0]] = al
            count[0] += 1
            return True
    return None
