# ACPI fixed-feature hardware (ACPI 6.3 4.8): the PM1a event block (PM1_STS,
# PM1_EN), the PM1a control block (SCI_EN, SLP_TYP/SLP_EN: S5 ends the VM
# as 'PowerOff') and the 24-bit PM timer at 3.579545 MHz, at the ports the
# FADT (hv.vmm.acpi) names; SCI on IRQ 9. Pure Python, guest time from clock().
from micropython import const
from hv.vmm.acpi import PM_BASE, SCI_IRQ, SLP_TYP_S5

PM_TIMER_HZ = const(3579545)    # 4.8.3.3: the power management timer's rate
# PM1 status and enable bits (4.8.3.1, Tables 4-16 and 4-17).
TMR_STS = const(0x0001)
GBL_STS = const(0x0020)
PWRBTN_STS = const(0x0100)
SLPBTN_STS = const(0x0200)
RTC_STS = const(0x0400)
WAK_STS = const(0x8000)
_EN_BITS = const(0x4721)        # TMR_EN, GBL_EN, PWRBTN_EN, SLPBTN_EN, RTC_EN, PCIEXP_WAKE_DIS
_SCI_EVENTS = const(0x0721)     # the status bits that raise an SCI when enabled
# PM1 control (4.8.3.2.1, Table 4-18).
SCI_EN = const(0x0001)
BM_RLD = const(0x0002)
SLP_TYP_SHIFT = const(10)
SLP_EN = const(0x2000)
_CNT_RW = const(0x1C02)         # BM_RLD and SLP_TYP keep what is written; SCI_EN is fixed
_TMR_BIT = const(23)            # TMR_VAL_EXT = 0: TMR_STS follows bit 23


class AcpiPm:
    """clock() -> guest seconds; irq(line, level) drives the SCI (level,
    active high as the MADT's override says). A write to PM1_CNT that
    enters S5 returns 'PowerOff' (the run ends with that reason)."""

    def __init__(self, clock, irq=None, base=PM_BASE, sci=SCI_IRQ):
        self.clock, self.irq, self.base, self.sci = clock, irq, base, sci
        self.ports = tuple(range(base, base + 6)) + tuple(range(base + 8, base + 12))
        self.sts = 0
        self.en = 0
        # SMI_CMD is 0 in the FADT: the platform is always in ACPI mode, so
        # SCI_EN is set and stays set.
        self.cnt = SCI_EN
        self._tmr_seen = 0      # timer bit-23 periods when TMR_STS was last cleared
        self._line = False

    def _ticks(self):
        return int(self.clock() * PM_TIMER_HZ)

    def _status(self, ticks=None):
        s = self.sts
        if (self._ticks() if ticks is None else ticks) >> _TMR_BIT != self._tmr_seen:
            s |= TMR_STS
        return s

    def _byte(self, off, ticks):
        if off < 2:
            return self._status(ticks) >> (8 * off) & 0xFF
        if off < 4:
            return self.en >> (8 * (off - 2)) & 0xFF
        if off < 6:
            return self.cnt >> (8 * (off - 4)) & 0xFF
        if 8 <= off < 12:
            return (ticks & 0xFFFFFF) >> (8 * (off - 8)) & 0xFF   # bits 31:24 read 0
        return 0xFF                                 # 0x606/0x607: nothing decodes them

    def io_read(self, port, width):
        off, ticks, v = port - self.base, self._ticks(), 0   # one sample per access
        for i in range(width):
            v |= self._byte(off + i, ticks) << (8 * i)
        return v

    def io_write(self, port, width, value):
        off, reason = port - self.base, None
        for i in range(width):
            r = self._write_byte(off + i, value >> (8 * i) & 0xFF)
            reason = reason or r
        self._update()
        return reason

    def _write_byte(self, off, b):
        shift = 8 * (off & 1)
        if off < 2:                                 # PM1_STS: write 1 to clear
            bits = b << shift
            if bits & TMR_STS:
                self._tmr_seen = self._ticks() >> _TMR_BIT
            self.sts &= ~bits
        elif off < 4:
            mask = 0xFF << shift
            self.en = (self.en & ~mask) | (b << shift & mask & _EN_BITS)
        elif off < 6:
            mask = 0xFF << shift & _CNT_RW
            self.cnt = (self.cnt & ~mask) | (b << shift & mask)
            if b << shift & SLP_EN:
                return self._sleep(self.cnt >> SLP_TYP_SHIFT & 7)
        return None                                 # the PM timer is read-only

    def _sleep(self, slp_typ):
        # Only \_S5 is in the DSDT; any other SLP_TYP names a state this
        # platform does not have, and the system stays in S0 (as an ICH does
        # for its reserved encodings).
        return "PowerOff" if slp_typ == SLP_TYP_S5 else None

    def power_button(self):
        """The VMM presses the fixed-feature power button (PWRBTN_STS)."""
        self.sts |= PWRBTN_STS
        self._update()

    def _update(self):
        level = bool(self._status() & self.en & _SCI_EVENTS) and bool(self.cnt & SCI_EN)
        if level != self._line:
            self._line = level
            if self.irq is not None:
                self.irq(self.sci, level)

    def next_deadline(self):
        """Guest time of the next timer overflow when it would raise the SCI."""
        if self._line or self.irq is None or not self.en & TMR_STS or self._status() & TMR_STS:
            return None
        return ((self._tmr_seen + 1) << _TMR_BIT) / PM_TIMER_HZ

    def poll(self, now=None):
        self._update()
