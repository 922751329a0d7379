# The host's own CMOS clock read as Unix seconds (MC146818A: wait for UIP
# clear, read twice until two reads agree, decode BCD/binary and 12/24 h
# per register B; century from CMOS 0x32), the wall time the guest's RTC
# model starts from. Runs on the bare-metal port with inb/outb = hw.inb/outb.
from hv.vmm.devices import rtc_time as T

_REGS = (0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32, 0x0B)
_UIP_SPINS = 100000             # UIP is high at most 2.228 ms per second


def _snapshot(inb, outb):
    for _ in range(_UIP_SPINS):
        outb(0x70, 0x0A)
        if not inb(0x71) & 0x80:
            break
    else:
        raise RuntimeError("host RTC: update-in-progress never cleared (no CMOS clock?)")
    vals = []
    for r in _REGS:
        outb(0x70, r)
        vals.append(inb(0x71))
    return vals


def read_epoch(inb, outb):
    """Unix seconds of the host's CMOS time; RuntimeError if it holds none."""
    vals = _snapshot(inb, outb)
    for _ in range(10):
        again = _snapshot(inb, outb)
        if again == vals:
            break
        vals = again
    s, m, h, d, mo, yy, c, b = vals
    binary, h24 = b & 0x04, b & 0x02
    s, m, d, mo, yy, c = (T.from_reg(v, binary) for v in (s, m, d, mo, yy, c))
    h = T.hour_from_reg(h, binary, h24)
    y = (c if 19 <= c <= 99 else 20) * 100 + yy
    if not (0 <= s <= 59 and 0 <= m <= 59 and h >= 0 and 1 <= mo <= 12 and 0 <= yy <= 99
            and 1 <= d <= T.days_in_month(y, mo)):
        raise RuntimeError("host RTC: no valid time in CMOS: %r" % (vals,))
    return T.days_from_civil(y, mo, d) * 86400 + h * 3600 + m * 60 + s
