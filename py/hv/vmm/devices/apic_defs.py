# Register layout facts of the local APIC (Intel SDM Vol. 3A ch. 11, "Advanced
# Programmable Interrupt Controller"; ch. 10 in older editions) and of the I/O
# APIC (Intel 82093AA datasheet, 3.0-3.2). Constants and pure decoders only;
# hv.vmm.devices.lapic, x2apic and ioapic decide what to do. Pure Python.
from micropython import const

# -- IA32_APIC_BASE (MSR 0x1B, SDM 3A 11.4.4 Figure 11-5, 11.12.1) -------------
APIC_BASE_BSP = const(1 << 8)
APIC_BASE_EXTD = const(1 << 10)         # x2APIC mode
APIC_BASE_EN = const(1 << 11)           # xAPIC global enable
APIC_BASE_RESERVED_LOW = const(0x2FF)   # bits 7:0 and 9 (KVM: the same 0x2ff)
APIC_BASE_DEFAULT = const(0xFEE00000)   # the page after reset (11.4.1)
APIC_BASE_RESET = const(0xFEE00900)     # BSP | EN | the default base
APIC_PAGE = const(0x1000)

# -- register offsets in the xAPIC page (SDM 3A 11.4.1 Table 11-1) -------------
ID = const(0x20)
VERSION = const(0x30)
TPR = const(0x80)
APR = const(0x90)
PPR = const(0xA0)
EOI = const(0xB0)
RRD = const(0xC0)
LDR = const(0xD0)
DFR = const(0xE0)
SVR = const(0xF0)
ISR0 = const(0x100)                     # 8 registers, 0x100-0x170
TMR0 = const(0x180)                     # 0x180-0x1F0
IRR0 = const(0x200)                     # 0x200-0x270
ESR = const(0x280)
LVT_CMCI = const(0x2F0)
ICR_LOW = const(0x300)
ICR_HIGH = const(0x310)
LVT_TIMER = const(0x320)
LVT_THERMAL = const(0x330)
LVT_PERF = const(0x340)
LVT_LINT0 = const(0x350)
LVT_LINT1 = const(0x360)
LVT_ERROR = const(0x370)
TIMER_ICR = const(0x380)                # initial count
TIMER_CCR = const(0x390)                # current count
TIMER_DCR = const(0x3E0)                # divide configuration
SELF_IPI = const(0x3F0)                 # x2APIC only (11.12.11)

# LVT registers in offset order: timer, thermal, perf, LINT0, LINT1, error.
LVT_OFFSETS = (LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR)
# Writable bits of each LVT (SDM 3A 11.5.1 Figure 11-8): vector 7:0, delivery
# mode 10:8 where the entry has one, polarity 13 and trigger 15 on LINT0/1,
# mask 16, timer mode 18:17 (bit 18 with TSC-deadline). Delivery status (12)
# and remote IRR (14) are read-only.
LVT_WRITABLE = {LVT_TIMER: 0x700FF, LVT_THERMAL: 0x107FF, LVT_PERF: 0x107FF,
                LVT_LINT0: 0x1A7FF, LVT_LINT1: 0x1A7FF, LVT_ERROR: 0x100FF}
LVT_MASKED = const(1 << 16)
LVT_RESET = const(0x10000)              # every LVT masked at reset (11.4.7.1)
LVT_LEVEL = const(1 << 15)              # trigger mode: level (LINT0/LINT1)
LVT_REMOTE_IRR = const(1 << 14)
TIMER_MODE_SHIFT = const(17)
TIMER_ONESHOT = const(0)
TIMER_PERIODIC = const(1)
TIMER_TSC_DEADLINE = const(2)

# Delivery modes (LVT and ICR bits 10:8, 11.5.1, 11.6.1; I/O APIC 3.2.4).
DM_FIXED = const(0)
DM_LOWEST = const(1)
DM_SMI = const(2)
DM_NMI = const(4)
DM_INIT = const(5)
DM_STARTUP = const(6)
DM_EXTINT = const(7)

# Version register (11.4.8): version 0x14 (an integrated APIC), max LVT
# entry 5 (six LVTs: no CMCI), no EOI-broadcast suppression (bit 24).
VERSION_VALUE = const(0x00050014)

# Spurious-interrupt vector register (11.9 Figure 11-23).
SVR_ENABLE = const(1 << 8)              # APIC software enable
SVR_WRITABLE = const(0x3FF)             # vector, enable, focus checking (bit 9)
SVR_RESET = const(0xFF)

DFR_RESET = const(0xFFFFFFFF)           # flat model (11.6.2.2)
DFR_WRITABLE = const(0xF0000000)

# Error status register bits (11.5.3 Figure 11-9).
ESR_SEND_ILLEGAL_VECTOR = const(1 << 5)
ESR_RECV_ILLEGAL_VECTOR = const(1 << 6)
ESR_ILLEGAL_REGISTER = const(1 << 7)

# Interrupt command register (11.6.1 Figure 11-12).
ICR_WRITABLE = const(0xCCFFF)           # vector, mode, dest mode, level, trigger, shorthand
ICR_DELIVERY_STATUS = const(1 << 12)    # 0: idle; never left busy here
ICR_DEST_LOGICAL = const(1 << 11)
ICR_LEVEL_ASSERT = const(1 << 14)
ICR_SHORTHAND_SHIFT = const(18)
SH_NONE = const(0)
SH_SELF = const(1)
SH_ALL = const(2)
SH_ALL_BUT_SELF = const(3)
# x2APIC ICR (MSR 0x830, 11.12.9): the same low half, destination in 63:32;
# reserved bits 31:20, 17:16, 13 and the delivery status 12 (KVM #GPs on
# 31:20, 17:16 and 13 the same way).
X2_ICR_RESERVED = const(0xFFF32000)

TIMER_DCR_WRITABLE = const(0xB)         # bits 0, 1 and 3 (11.5.4 Figure 11-10)


def timer_divisor(dcr):
    """The divide configuration's divisor (11.5.4 Figure 11-10): bits 3,1:0
    as 0-6 divide by 2^(n+1), 7 by 1."""
    n = (dcr >> 1 & 4) | (dcr & 3)
    return 1 if n == 7 else 2 << n


# -- x2APIC MSRs (SDM 3A 11.12.1.2 Table 11-6) --------------------------------
X2APIC_FIRST = const(0x800)
X2APIC_LAST = const(0x8FF)
X2APIC_ICR = const(0x830)
X2APIC_SELF_IPI = const(0x83F)
IA32_TSC_DEADLINE = const(0x6E0)        # 11.5.4.1

# -- I/O APIC (82093AA datasheet) -------------------------------------------------
IOAPIC_BASE = const(0xFEC00000)         # the PC's default (3.0, MP spec 1.4 3.6.1)
IOREGSEL = const(0x00)                  # 3.1.1: the register index, bits 7:0
IOWIN = const(0x10)                     # 3.1.2: the data window, 32-bit
IOAPIC_SIZE = const(0x20)               # the window the registers decode in
IOAPICID = const(0x00)                  # 3.2.1: ID in bits 27:24
IOAPICVER = const(0x01)                 # 3.2.2: version 7:0, max redirection entry 23:16
IOAPICARB = const(0x02)                 # 3.2.3: arbitration ID, bits 27:24
IOREDTBL0 = const(0x10)                 # 3.2.4: entry n at 0x10 + 2n (low), +1 (high)
IOAPIC_PINS = const(24)
IOAPIC_VERSION_VALUE = const(0x170011)  # version 0x11, entries 0-23
IOAPIC_ID_MASK = const(0x0F000000)
# Redirection entry bits (3.2.4): vector 7:0, delivery mode 10:8, destination
# mode 11, delivery status 12 (RO), polarity 13 (1: low), remote IRR 14 (RO),
# trigger 15 (1: level), mask 16, destination 63:56.
RTE_POLARITY_LOW = const(1 << 13)
RTE_REMOTE_IRR = const(1 << 14)
RTE_LEVEL = const(1 << 15)
RTE_MASKED = const(1 << 16)
RTE_LOW_WRITABLE = const(0x1AFFF)       # all but delivery status and remote IRR
RTE_HIGH_WRITABLE = const(0xFF000000)
RTE_RESET = const(0x10000)              # masked


def isa_gsi(irq):
    """The I/O APIC input of ISA IRQ irq on a PC: IRQ 0 (the PIT) on pin 2,
    the others on their own number (MP spec 1.4 5.3 default configurations,
    the ACPI MADT interrupt source override QEMU and hardware report)."""
    return 2 if irq == 0 else irq
