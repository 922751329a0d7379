# PCI configuration mechanism #1 at 0xCF8/0xCFC-0xCFF (PCI Local Bus
# Specification 3.0, 3.2.2.3.2) with one device, the Intel 440FX host
# bridge at 00:00.0 (82441FX PMC datasheet, 3.2 "PCI Configuration
# Registers"), and the PMC's Turbo-Reset Control register at 0xCF9 (3.1.2),
# whose CPU reset ends the VM as 'Reset'. Pure Python.
from micropython import const

CONFIG_ADDRESS = const(0xCF8)
CONFIG_DATA = const(0xCFC)
TRC = const(0xCF9)
_ENABLE = const(0x80000000)
_ADDRESS_BITS = const(0x80FFFFFC)    # bits 30:24 reserved, 1:0 read as 0
_TRC_RCPU = const(0x04)              # reset CPU: a write with this bit set resets
_TRC_KEEP = const(0x03)              # SRST (hard reset select), DETURBO
VENDOR_INTEL = const(0x8086)
DEVICE_82441FX = const(0x1237)


def _i440fx_space():
    """The 256-byte configuration space of the 82441FX PMC after reset and
    the mask of the bits software may write. PAM and SMRAM keep what is
    written, but the VM's memory does not follow them: there is no BIOS
    ROM to shadow and no SMM."""
    cfg = bytearray(256)
    mask = bytearray(256)
    cfg[0:4] = bytes((VENDOR_INTEL & 0xFF, VENDOR_INTEL >> 8, DEVICE_82441FX & 0xFF, DEVICE_82441FX >> 8))
    cfg[0x04], cfg[0x06], cfg[0x07] = 0x06, 0x80, 0x02    # PCICMD MAE|BME; PCISTS fast back-to-back, DEVSEL medium
    cfg[0x08] = 0x02                                       # RID
    cfg[0x0A], cfg[0x0B] = 0x00, 0x06                      # CLASSC: bridge, host bridge
    mask[0x04], mask[0x05] = 0x40, 0x01                    # PCICMD: PERR# and SERR# enables
    mask[0x0D] = 0xF8                                      # MLT, master latency timer
    for reg in range(0x50, 0x60):                          # PMCCFG, DETURBO, DBC, AXC, DRAMR, DRAMC, DRAMT, PAM0-6
        mask[reg] = 0xFF
    for reg in range(0x60, 0x68):                          # DRB0-7 DRAM row boundaries
        mask[reg] = 0xFF
    mask[0x68], mask[0x70], mask[0x71] = 0xFF, 0xFF, 0xFF   # FDHC, MTT, CLT
    mask[0x72] = 0x78                                      # SMRAM: D_OPEN, D_CLS, D_LCK, G_SMRAME
    cfg[0x72] = 0x02                                       # C_BASE_SEG = 010 (A0000h), read-only
    return cfg, mask


class PciHost:
    """Configuration cycles reach only bus 0, device 0, function 0: every
    other function answers a read with all ones (master abort) and drops
    writes, so an OS's bus scan ends with the host bridge."""

    def __init__(self):
        self.ports = tuple(range(CONFIG_ADDRESS, CONFIG_DATA + 4))
        self.address = 0
        self.trc = 0
        self.config, self._mask = _i440fx_space()

    def _target(self):
        # The configured function's register offset, or -1 when the cycle
        # is disabled (bit 31 clear) or reaches no device.
        a = self.address
        if not a & _ENABLE or a & 0x00FFFF00:          # bus 0, device 0, function 0 only
            return -1
        return a & 0xFC

    def io_read(self, port, width):
        if port < CONFIG_DATA:
            if port == CONFIG_ADDRESS and width == 4:
                return self.address
            if port == TRC and width == 1:
                return self.trc
            return (1 << (8 * width)) - 1             # not a dword at 0xCF8: ordinary, unclaimed I/O
        reg, v = self._target(), 0
        for i in range(width):
            p = port + i
            if reg < 0 or p > CONFIG_DATA + 3:
                b = 0xFF
            else:
                b = self.config[reg + (p & 3)]
            v |= b << (8 * i)
        return v

    def io_write(self, port, width, value):
        if port < CONFIG_DATA:
            if port == CONFIG_ADDRESS and width == 4:
                self.address = value & _ADDRESS_BITS
            elif port == TRC and width == 1:
                self.trc = value & _TRC_KEEP
                if value & _TRC_RCPU:
                    return "Reset"                    # SRST picks hard or soft reset: both restart the VM
            return None
        reg = self._target()
        if reg < 0:
            return None
        cfg, mask = self.config, self._mask
        for i in range(width):
            p = port + i
            if p > CONFIG_DATA + 3:
                break
            off = reg + (p & 3)
            m = mask[off]
            cfg[off] = (cfg[off] & ~m) | ((value >> (8 * i)) & m)
        return None
