# The PC's CMOS real-time clock, a Motorola MC146818A at ports 0x70 (index,
# bit 7 = NMI disable) and 0x71 (data): time and calendar from the host's
# clock, registers A-D, update-ended / alarm / periodic interrupts on IRQ 8,
# and 128 bytes of CMOS memory (the PC/AT's extended map). Pure Python;
# guest seconds from clock(), the wall time at start from host_time().
from micropython import const
from hv.vmm.devices import rtc_time as T

INDEX = const(0x70)
DATA = const(0x71)
NMI_DISABLE = const(0x80)        # port 0x70 bit 7 (IBM PC/AT; PIIX4 "RTCI" NMI enable)
IRQ = const(8)
# MC146818A "Address Map" (Figure 4): the time, alarm and calendar bytes.
SEC = const(0x00)
SEC_ALARM = const(0x01)
MIN = const(0x02)
MIN_ALARM = const(0x03)
HOUR = const(0x04)
HOUR_ALARM = const(0x05)
DOW = const(0x06)
DAY = const(0x07)
MONTH = const(0x08)
YEAR = const(0x09)
REG_A = const(0x0A)
REG_B = const(0x0B)
REG_C = const(0x0C)
REG_D = const(0x0D)
CENTURY = const(0x32)            # IBM PC/AT CMOS map; the ACPI FADT's CENTURY index
A_UIP = const(0x80)              # update in progress (read-only)
A_DV = const(0x70)               # divider: 010 = 32.768 kHz time base, 11x = reset
A_RS = const(0x0F)               # periodic rate select
B_SET = const(0x80)
B_PIE = const(0x40)
B_AIE = const(0x20)
B_UIE = const(0x10)
B_DM = const(0x04)               # 1 = binary, 0 = BCD
B_24H = const(0x02)
C_IRQF = const(0x80)
C_PF = const(0x40)
C_AF = const(0x20)
C_UF = const(0x10)
D_VRT = const(0x80)              # valid RAM and time
_ALARM_ANY = const(0xC0)         # "don't care" alarm code 11XXXXXX
_TIME_BASE = const(32768)
# UIP rises 244 us before the update cycle, which lasts 1984 us with a
# 32.768 kHz time base ("Update Cycle", Figure 15).
_UIP_LEAD = 0.000244 + 0.001984


class Rtc:
    """clock() -> guest seconds; host_time() -> the wall time now as Unix
    seconds (int or float; on the target the caller reads the host's own
    CMOS, see hv.host.rtc); irq(line, level) drives IRQ 8 with IRQF.
    `nvram` is the CMOS memory; hv.vmm.devices.cmos_map fills the PC's bytes."""

    def __init__(self, clock, host_time, irq=None):
        self.clock, self.irq = clock, irq
        self.ports = (INDEX, DATA)
        self.nvram = n = bytearray(128)
        self.index = 0
        self.nmi_masked = False
        self._line = False
        # What a PC BIOS leaves: 32.768 kHz base at 1024 Hz, BCD, 24-hour.
        n[REG_A], n[REG_B], n[REG_D] = 0x26, B_24H, D_VRT
        now = clock()
        wall = host_time()
        whole = int(wall // 1)
        self._write_time(whole // 86400, whole % 86400)
        # The divider chain: updates at _chain + 0.5 + k (the first one half
        # a second after release, "Divider Control"); _uk is the next k.
        self._chain = now + (1 - (wall - whole)) - 0.5
        self._uk = 0
        self._a_uk = -2                 # _uk at the guest's last read of register A
        self._uip_shown = -1            # the last update whose UIP a read of A saw
        self._flags = 0
        self._rephase_periodic(now)

    # -- time of day in the registers, in the format register B selects -------
    def _write_time(self, days, sod):
        n, binary, h24 = self.nvram, self.nvram[REG_B] & B_DM, self.nvram[REG_B] & B_24H
        y, mo, d = T.civil_from_days(days)
        n[SEC] = T.to_reg(sod % 60, binary)
        n[MIN] = T.to_reg(sod // 60 % 60, binary)
        n[HOUR] = T.hour_to_reg(sod // 3600, binary, h24)
        n[DAY], n[MONTH] = T.to_reg(d, binary), T.to_reg(mo, binary)
        n[YEAR], n[CENTURY] = T.to_reg(y % 100, binary), T.to_reg(y // 100 % 100, binary)
        n[DOW] = T.to_reg(T.weekday(days), binary)

    def _read_time(self):
        """(days, second of day) of the registers, or None if they hold no valid time."""
        n, binary, h24 = self.nvram, self.nvram[REG_B] & B_DM, self.nvram[REG_B] & B_24H
        s, m = T.from_reg(n[SEC], binary), T.from_reg(n[MIN], binary)
        h = T.hour_from_reg(n[HOUR], binary, h24)
        d, mo, yy = T.from_reg(n[DAY], binary), T.from_reg(n[MONTH], binary), T.from_reg(n[YEAR], binary)
        c = T.from_reg(n[CENTURY], binary)
        y = (c if 0 <= c <= 99 else 20) * 100 + yy
        if not (0 <= s <= 59 and 0 <= m <= 59 and h >= 0 and 1 <= mo <= 12 and 0 <= yy <= 99):
            return None
        if not 1 <= d <= T.days_in_month(y, mo):
            return None
        return T.days_from_civil(y, mo, d), h * 3600 + m * 60 + s

    def _alarm(self, sod):
        """Seconds from `sod` to the next alarm match, or None."""
        n, binary, h24 = self.nvram, self.nvram[REG_B] & B_DM, self.nvram[REG_B] & B_24H
        fields = []
        for reg in (HOUR_ALARM, MIN_ALARM, SEC_ALARM):
            b = n[reg]
            if b >= _ALARM_ANY:
                fields.append(None)
            elif reg == HOUR_ALARM:
                fields.append(T.hour_from_reg(b, binary, h24))
            else:
                v = T.from_reg(b, binary)
                fields.append(v if 0 <= v <= 59 else -1)
        return T.seconds_to_alarm(sod, fields[0], fields[1], fields[2])

    def _update(self, k):
        """k update cycles ran: advance the time by k seconds; UF, and AF
        if the alarm matched on the way. With no valid time in the registers
        the datasheet leaves the result undefined: here the time stands."""
        t = self._read_time()
        if t is not None:
            days, sod = t
            a = self._alarm(sod)
            if a is not None and a <= k:
                self._flags |= C_AF
            old_dow = T.from_reg(self.nvram[DOW], self.nvram[REG_B] & B_DM)
            total = days * 86400 + sod + k
            self._write_time(total // 86400, total % 86400)
            if 1 <= old_dow <= 7:       # DOW counts 1-7 on its own, whatever was written
                dow = (old_dow - 1 + total // 86400 - days) % 7 + 1
                self.nvram[DOW] = T.to_reg(dow, self.nvram[REG_B] & B_DM)
        self._flags |= C_UF

    # -- the divider chain ----------------------------------------------------
    def _running(self):
        # QEMU's rtc_running(): the 4.194 MHz, 1.049 MHz and 32.768 kHz
        # settings (DV 000-010) run; 11x holds the chain in reset.
        return self.nvram[REG_A] & A_DV <= 0x20

    def _period(self):
        rs = self.nvram[REG_A] & A_RS
        if rs == 0:
            return None
        # "Periodic Interrupt Rate" (Table 5): RS 1 and 2 repeat RS 8 and 9.
        return (1 << (rs + 6 if rs < 3 else rs - 1)) / _TIME_BASE

    def _rephase_periodic(self, now):
        p = self._period()
        self._pnext = None if p is None else self._chain + ((now - self._chain) // p + 1) * p

    def _catch_up(self, now):
        if not self._running():
            return
        k = int((now - self._chain - 0.5) // 1) + 1
        if k > self._uk:
            if not self.nvram[REG_B] & B_SET:
                self._update(k - self._uk)
            else:
                self._uip_shown = k - 1     # inhibited: no update for a late UIP to show
            self._uk = k
        if self._pnext is not None and now >= self._pnext:
            self._flags |= C_PF
            self._rephase_periodic(now)
        self._irq_line()

    def _irq_line(self):
        b, f = self.nvram[REG_B], self._flags
        level = bool((f & C_PF and b & B_PIE) or (f & C_AF and b & B_AIE) or (f & C_UF and b & B_UIE))
        if level != self._line:
            self._line = level
            if self.irq is not None:
                self.irq(IRQ, level)

    # -- ports ----------------------------------------------------------------
    def io_write(self, port, width, value):
        value &= 0xFF
        if port == INDEX:
            self.index = value & 0x7F
            self.nmi_masked = bool(value & NMI_DISABLE)
            return
        reg, now = self.index, self.clock()
        self._catch_up(now)
        n = self.nvram
        if reg == REG_A:
            was = self._running()
            n[REG_A] = value & ~A_UIP
            if self._running() and not was:
                self._chain, self._uk = now, 0     # released from reset
                self._a_uk, self._uip_shown = -2, -1
            self._rephase_periodic(now)
        elif reg == REG_B:
            if value & B_SET:
                value &= ~B_UIE                    # "the SET bit going high clears the UIE bit"
            n[REG_B] = value
        elif reg == REG_C or reg == REG_D:
            return                                 # read-only
        else:
            n[reg] = value
        self._irq_line()

    def io_read(self, port, width):
        if port == INDEX:
            return 0xFF                            # the index register is write-only
        reg, now = self.index, self.clock()
        self._catch_up(now)
        n = self.nvram
        if reg == REG_A:
            return n[REG_A] | (A_UIP if self._uip_seen(now) else 0)
        if reg == REG_C:
            f = self._flags | (C_IRQF if self._line else 0)
            self._flags = 0                        # "all flag bits are cleared after Register C is read"
            self._irq_line()
            return f
        if reg == REG_D:
            return D_VRT
        return n[reg]

    def _uip(self, now):
        if not self._running() or self.nvram[REG_B] & B_SET:
            return False
        return self._chain + 0.5 + self._uk - now <= _UIP_LEAD

    def _uip_seen(self, now):
        # A guest polling register A for the update (a kernel's get-time
        # wait) must see UIP rise and fall. Its reads are an exit apart,
        # which under a slow VMM (Python under Bochs: milliseconds of guest
        # time) can step over the 2.2 ms window every second. So when
        # exactly one update ran since its last read of A and no read saw
        # that update's UIP, this read shows it, late; the next one finds
        # UIP low and the new time, as it would have just after the window.
        uk, last = self._uk, self._a_uk
        self._a_uk = uk
        if self._uip(now):
            self._uip_shown = uk
            return True
        if uk == last + 1 and self._uip_shown != uk - 1 and self._running() \
                and not self.nvram[REG_B] & B_SET:
            self._uip_shown = uk - 1
            return True
        return False

    # -- timer interface for the VMM --------------------------------------------
    def next_deadline(self):
        """Guest time at which IRQ 8 would next rise, or None."""
        if self._line or self.irq is None or not self._running():
            return None
        b, best = self.nvram[REG_B], None
        if b & B_PIE and self._pnext is not None:
            best = self._pnext
        if not b & B_SET and b & (B_UIE | B_AIE):
            t = self._chain + 0.5 + self._uk
            if not b & B_UIE:
                now = self._read_time()
                a = None if now is None else self._alarm(now[1])
                t = None if a is None else t + a - 1
            if t is not None and (best is None or t < best):
                best = t
        return best

    def poll(self, now=None):
        """Set the flags (and IRQ 8) of what happened up to guest time `now`."""
        self._catch_up(self.clock() if now is None else now)
