"""What the world-switch natives do with the guest time's state at each
entry and exit (port/natives.h: guest_clock_t, clock_entering(),
clock_exited()), for the fake natives: the TSC offset an entry loads."""
from hv.vmm.ticks import EXITED, ON, STOLEN
from hv.x86.regs import MASK64


def entering(clock, tsc):
    if clock[ON] and clock[EXITED]:
        clock[STOLEN] += tsc() - clock[EXITED]
        clock[EXITED] = 0
    return -clock[STOLEN] & MASK64


def exited(clock, tsc):
    if clock[ON]:
        clock[EXITED] = tsc()
