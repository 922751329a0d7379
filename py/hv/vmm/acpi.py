# ACPI tables for one VM, built in Python (ACPI 6.3 chapter 5): RSDP, RSDT,
# XSDT, FADT (with FACS), a minimal DSDT holding \_S5, and the MADT (local
# APIC, I/O APIC, interrupt source overrides, LAPIC NMI), laid out as one
# blob for the BIOS area where the RSDP scan of 0xE0000-0xFFFFF finds it.
# Pure Python; the VMM copies blob() into guest RAM at `base`.
from micropython import const

BASE = const(0xE0000)            # 5.2.5.1: the RSDP lies on a 16-byte boundary in 0xE0000-0xFFFFF
LAPIC_BASE = const(0xFEE00000)
IOAPIC_BASE = const(0xFEC00000)
PM_BASE = const(0xB000)          # PM1a_EVT (4), PM1a_CNT (2) at +4, PM_TMR (4) at +8: the PIIX4 layout at Bochs's PMBA (0x600, QEMU's, is the test guests' scratch port)
SCI_IRQ = const(9)
RESET_PORT = const(0xCF9)        # PIIX4/ICH reset control register
RESET_VALUE = const(0x06)        # SRST | RCPU: hard reset
SLP_TYP_S5 = const(7)            # the \_S5 value PM1_CNT.SLP_TYP takes (ICH encoding, 111b = soft off)
CENTURY = const(0x32)            # the CMOS century byte (hv.vmm.devices.rtc)
_OEM_ID = b"MPVSR "
_OEM_TABLE = b"MPVISOR "
_CREATOR = b"MPVS"
# FADT IAPC_BOOT_ARCH (5.2.9.3, Table 5-35).
BOOT_LEGACY_DEVICES = const(0x0001)   # COM ports on the ISA/LPC bus
BOOT_8042 = const(0x0002)             # an 8042 exists (hv.vmm.devices.i8042)
BOOT_NO_VGA = const(0x0004)           # no VGA: do not probe it
# FADT Flags (5.2.9, Table 5-34).
_F_WBINVD = const(1 << 0)
_F_PROC_C1 = const(1 << 2)
_F_SLP_BUTTON = const(1 << 5)         # no fixed-feature sleep button
_F_FIX_RTC = const(1 << 6)            # no RTC_STS wake in PM1
_F_RESET_REG_SUP = const(1 << 10)
# MADT (5.2.12).
_MADT_PCAT_COMPAT = const(1)          # the dual 8259 PIC exists too
_INTI_LEVEL_HIGH = const(0x000D)      # MPS INTI flags: active high (01), level (11)
_GAS_IO = const(1)                    # Generic Address Structure: system I/O space


def _le(v, n):
    return v.to_bytes(n, "little")


def _gas(space, bits, access, addr):
    """A Generic Address Structure (5.2.3.2): space, width, offset 0, access size, address."""
    return bytes((space, bits, 0, access)) + _le(addr, 8)


def _sdt(sig, revision, body):
    """A table with the System Description Table header (5.2.6) and its checksum."""
    length = 36 + len(body)
    t = bytearray(sig + _le(length, 4) + bytes((revision, 0)) + _OEM_ID + _OEM_TABLE +
                  _le(1, 4) + _CREATOR + _le(1, 4) + body)
    t[9] = -sum(t) & 0xFF
    return bytes(t)


def rsdp(rsdt, xsdt):
    """Root System Description Pointer, ACPI 2.0+ form (5.2.5.3)."""
    r = bytearray(b"RSD PTR " + b"\0" + _OEM_ID + bytes((2,)) + _le(rsdt, 4) + _le(36, 4) +
                  _le(xsdt, 8) + b"\0\0\0\0")
    r[8] = -sum(r[:20]) & 0xFF          # checksum of the ACPI 1.0 part
    r[32] = -sum(r) & 0xFF              # extended checksum of all 36 bytes
    return bytes(r)


def dsdt():
    """The Differentiated System Description Table: only \\_S5, the soft-off
    sleep package the OS reads SLP_TYPa/b from (7.4.2), as iasl compiles
    `Name (\\_S5, Package () {7, 7, 0, 0})`. AML (20.2):
      08              NameOp
      5F 53 35 5F     NameSeg "_S5_" (the DSDT's scope is the root: no '\\' needed)
      12 08 04        PackageOp, PkgLength 8 (itself included), NumElements 4
      0A 07  0A 07    BytePrefix 7 (SLP_TYPa), BytePrefix 7 (SLP_TYPb)
      00 00           Zero, Zero (reserved)"""
    aml = bytes((0x08, 0x5F, 0x53, 0x35, 0x5F, 0x12, 0x08, 0x04,
                 0x0A, SLP_TYP_S5, 0x0A, SLP_TYP_S5, 0x00, 0x00))
    return _sdt(b"DSDT", 2, aml)


def facs():
    """Firmware ACPI Control Structure (5.2.10): no waking vector, no global
    lock owner; it has no checksum. 64 bytes."""
    return (b"FACS" + _le(64, 4) + _le(0, 4) + _le(0, 4) + _le(0, 4) + _le(0, 4) +
            _le(0, 8) + bytes((2, 0, 0, 0)) + _le(0, 4) + bytes(24))


def fadt(facs_at, dsdt_at, boot_arch=BOOT_LEGACY_DEVICES | BOOT_8042 | BOOT_NO_VGA):
    """Fixed ACPI Description Table, revision 6 (5.2.9, Table 5-33): the PM1a
    event and control blocks, the 24-bit PM timer, SCI on IRQ 9, the reset
    register, the CMOS century index; no SMI command port (ACPI is always on)."""
    evt, cnt, tmr = PM_BASE, PM_BASE + 4, PM_BASE + 8
    b = bytearray()
    b += _le(facs_at, 4) + _le(dsdt_at, 4)
    b += bytes((0, 0)) + _le(SCI_IRQ, 2)            # reserved, Preferred_PM_Profile 0
    b += _le(0, 4) + bytes(4)                       # SMI_CMD 0; ACPI_ENABLE/DISABLE, S4BIOS_REQ, PSTATE_CNT
    b += _le(evt, 4) + _le(0, 4) + _le(cnt, 4) + _le(0, 4) + _le(0, 4) + _le(tmr, 4)
    b += _le(0, 4) + _le(0, 4)                      # GPE0_BLK, GPE1_BLK: none
    b += bytes((4, 2, 0, 4, 0, 0, 0, 0))            # PM1_EVT_LEN, PM1_CNT_LEN, PM2, PM_TMR_LEN, GPE0/1, GPE1_BASE, CST_CNT
    b += _le(101, 2) + _le(1001, 2)                 # P_LVL2_LAT > 100, P_LVL3_LAT > 1000: no C2/C3
    b += _le(0, 2) + _le(0, 2) + bytes((0, 0, 0, 0, CENTURY))   # FLUSH_*, DUTY_*, DAY/MON_ALRM, CENTURY
    b += _le(boot_arch, 2) + b"\0"
    b += _le(_F_WBINVD | _F_PROC_C1 | _F_SLP_BUTTON | _F_FIX_RTC | _F_RESET_REG_SUP, 4)
    b += _gas(_GAS_IO, 8, 1, RESET_PORT) + bytes((RESET_VALUE,))
    b += _le(0, 2) + b"\0"                          # ARM_BOOT_ARCH, FADT minor version 0
    b += _le(facs_at, 8) + _le(dsdt_at, 8)          # X_FIRMWARE_CTRL, X_DSDT
    b += _gas(_GAS_IO, 32, 2, evt) + bytes(12)      # X_PM1a_EVT_BLK, X_PM1b_EVT_BLK
    b += _gas(_GAS_IO, 16, 2, cnt) + bytes(12)      # X_PM1a_CNT_BLK, X_PM1b_CNT_BLK
    b += bytes(12) + _gas(_GAS_IO, 32, 3, tmr)      # X_PM2_CNT_BLK, X_PM_TMR_BLK
    b += bytes(12 * 4)                              # X_GPE0/1_BLK, SLEEP_CONTROL/STATUS_REG
    b += b"mpvisor\0"                               # Hypervisor Vendor Identity
    return _sdt(b"FACP", 6, bytes(b))


def madt(cpus=1, overrides=((0, 2, 0), (SCI_IRQ, SCI_IRQ, _INTI_LEVEL_HIGH))):
    """Multiple APIC Description Table (5.2.12): one local APIC per CPU, the
    I/O APIC (ID = cpus, GSI base 0), the ISA interrupt source overrides
    (irq, gsi, MPS INTI flags; IRQ 0 -> GSI 2 as on every PC) and LINT1 as
    the NMI input of every processor."""
    b = bytearray(_le(LAPIC_BASE, 4) + _le(_MADT_PCAT_COMPAT, 4))
    for i in range(cpus):
        b += bytes((0, 8, i, i)) + _le(1, 4)        # Processor Local APIC, enabled
    b += bytes((1, 12, cpus, 0)) + _le(IOAPIC_BASE, 4) + _le(0, 4)
    for irq, gsi, flags in overrides:
        b += bytes((2, 10, 0, irq)) + _le(gsi, 4) + _le(flags, 2)   # bus 0 = ISA
    b += bytes((4, 6, 0xFF)) + _le(0, 2) + bytes((1,))             # all processors, LINT1
    return _sdt(b"APIC", 3, bytes(b))


def _align(n, a):
    return (n + a - 1) & -a


def blob(base=BASE, cpus=1, apic=True):
    """All tables as one bytes object to copy to guest physical `base`
    (16-byte aligned, inside 0xE0000-0xFFFFF for the RSDP scan), the RSDP
    first. The layout: RSDP, FACS (64-byte aligned), DSDT, FADT, MADT, RSDT, XSDT.
    apic=False: a PC with the 8259 pair only, no MADT (5.2.12: the table
    describes the APICs; without one an OS keeps to the PIC)."""
    if base & 15 or not 0xE0000 <= base < 0x100000:
        raise ValueError("ACPI: the RSDP must lie 16-byte aligned in 0xE0000-0xFFFFF, not 0x%x" % base)
    parts, at = [], _align(base + 36, 64)   # after the 36-byte RSDP; the FACS is 64-byte aligned
    tables = {}
    for name, table in (("FACS", facs()), ("DSDT", dsdt())):
        tables[name] = at
        parts.append((at, table))
        at = _align(at + len(table), 16)
    sdts = [("FACP", fadt(tables["FACS"], tables["DSDT"]))]
    if apic:
        sdts.append(("APIC", madt(cpus)))
    entries = []
    for name, table in sdts:
        entries.append(at)
        parts.append((at, table))
        at = _align(at + len(table), 16)
    rsdt_at = at
    rsdt = _sdt(b"RSDT", 1, b"".join(_le(a, 4) for a in entries))
    xsdt_at = _align(rsdt_at + len(rsdt), 16)
    xsdt = _sdt(b"XSDT", 1, b"".join(_le(a, 8) for a in entries))
    parts += [(rsdt_at, rsdt), (xsdt_at, xsdt), (base, rsdp(rsdt_at, xsdt_at))]
    out = bytearray(xsdt_at + len(xsdt) - base)
    for addr, table in parts:
        out[addr - base:addr - base + len(table)] = table
    if base + len(out) > 0x100000:
        raise ValueError("ACPI: the tables do not fit below 1 MiB from 0x%x" % base)
    return bytes(out)
