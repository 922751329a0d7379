# Port 0x61, the PC's system control port B (Intel 82371AB PIIX4 datasheet,
# "NMISC - NMI Status and Control Register", I/O 61h): PIT counter 2's GATE
# and speaker enable (read/write), the refresh toggle and counter 2's OUT
# (read-only), NMI sources that never fire here. Pure Python, guest time.
from micropython import const
from hv.vmm.devices.pit import PIT_HZ

_GATE2 = const(0x01)            # bit 0: timer counter 2 enable (GATE 2)
_SPEAKER = const(0x02)          # bit 1: speaker data enable
_SERR_OFF = const(0x04)         # bit 2: PCI SERR# NMI disable
_IOCHK_OFF = const(0x08)        # bit 3: IOCHK# NMI disable
_REFRESH = const(0x10)          # bit 4: refresh cycle toggle (RO)
_OUT2 = const(0x20)             # bit 5: timer counter 2 OUT status (RO)
_WRITABLE = const(0x0F)         # bits 7:4 are read-only status
_REFRESH_TICKS = const(18)      # refresh requests every 18 PIT clocks (15.085 us) as counter 1 paced them


class Port61:
    """pit: the hv.vmm.devices.pit.Pit whose counter 2 this port gates and
    watches. Bits 6 (IOCHK#) and 7 (SERR#) read 0: no NMI source exists."""

    def __init__(self, pit):
        self.pit = pit
        self.ports = (0x61,)
        self.value = 0          # bits 3:0 as written; 0 at reset (GATE 2 low, speaker off)

    def io_write(self, port, width, value):
        self.value = value & _WRITABLE
        self.pit.set_gate(2, self.value & _GATE2)

    def io_read(self, port, width):
        v = self.value
        if self.pit.out(2):
            v |= _OUT2
        # The toggle follows guest time, so a delay loop counting its flips
        # (as old BIOSes and DOS programs do) waits for real.
        if int(self.pit.clock() * PIT_HZ) // _REFRESH_TICKS & 1:
            v |= _REFRESH
        return v
