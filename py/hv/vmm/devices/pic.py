# The legacy 8259A programmable interrupt controller pair (master at 0x20,
# slave at 0xA0 on IRQ 2), emulated for a guest (Intel 8259A datasheet:
# ICW1-ICW4 initialisation, OCW1 mask, OCW2 EOI, OCW3 register reads, edge
# or level triggering by ICW1 LTIM or the PIIX ELCR at 0x4D0/0x4D1). Pure
# Python; hv.vmm.irq drives its inputs and injects what pending_vector() says.
from micropython import const

_ICW1 = const(0x10)
_ICW1_NEED_ICW4 = const(0x01)
_ICW1_SINGLE = const(0x02)
_ICW1_LTIM = const(0x08)        # level-triggered mode for all eight inputs
_ICW4_AUTO_EOI = const(0x02)
_OCW3 = const(0x08)
_OCW2_EOI = const(0x20)
_OCW2_SPECIFIC = const(0x40)
_OCW3_READ = const(0x02)
_OCW3_READ_ISR = const(0x01)
_CASCADE_IRQ = const(2)
ELCR1 = const(0x4D0)            # 82371AB (PIIX4) 4.1.19 ELCR1/ELCR2: 1 = level
ELCR2 = const(0x4D1)
# IRQ 0, 1, 2 (ELCR1 bits 2:0) and 8, 13 (ELCR2 bits 0, 5) are always edge.
_ELCR_MASK = (0xF8, 0xDE)


class _Chip:
    def __init__(self, base_vector):
        self.irr = 0           # interrupt request register (edge seen, not yet serviced)
        self.isr = 0           # in-service register
        self.imr = 0xFF        # everything masked until the guest unmasks
        self.vector_base = base_vector
        self.auto_eoi = False
        self.read_isr = False
        self._init_step = 0    # 0: operational; 2..4: next ICW expected
        self._need_icw4 = False
        self._single = False
        self.lines = 0         # input levels as last driven
        self.elcr = 0          # inputs the ELCR makes level-triggered
        self.ltim = False      # ICW1 LTIM: every input level-triggered

    def level_mask(self):
        return 0xFF if self.ltim else self.elcr

    def set_input(self, n, level):
        # Edge mode latches a rising edge in IRR; level mode makes IRR follow
        # the input ("Edge and Level Triggered Modes": the request is withdrawn
        # when the input falls before INTA).
        bit = 1 << n
        rising = level and not self.lines & bit
        self.lines = self.lines | bit if level else self.lines & ~bit
        if self.level_mask() & bit:
            self.irr = self.irr | bit if level else self.irr & ~bit
        elif rising:
            self.irr |= bit

    def write_command(self, value):
        if value & _ICW1:                       # ICW1 starts initialisation
            self.imr = self.isr = 0
            self.ltim = bool(value & _ICW1_LTIM)
            self.irr = self.lines if self.ltim else 0
            self._need_icw4 = bool(value & _ICW1_NEED_ICW4)
            self._single = bool(value & _ICW1_SINGLE)
            self._init_step = 2
        elif value & _OCW3:
            if value & _OCW3_READ:
                self.read_isr = bool(value & _OCW3_READ_ISR)
        elif value & _OCW2_EOI:
            if value & _OCW2_SPECIFIC:
                self.isr &= ~(1 << (value & 7))
            elif self.isr:
                self.isr &= self.isr - 1        # the highest-priority (lowest) bit

    def write_data(self, value):
        step = self._init_step
        if step == 0:
            self.imr = value                    # OCW1
        elif step == 2:
            self.vector_base = value & 0xF8     # ICW2
            self._init_step = 0 if self._single and not self._need_icw4 else (4 if self._single else 3)
        elif step == 3:
            self._init_step = 4 if self._need_icw4 else 0   # ICW3: wiring, fixed here
        else:
            self.auto_eoi = bool(value & _ICW4_AUTO_EOI)   # ICW4
            self._init_step = 0

    def read_command(self):
        return self.isr if self.read_isr else self.irr

    def highest(self):
        # The highest-priority requested, unmasked IRQ not blocked by one in
        # service at equal or higher priority (fully nested mode); or -1.
        req = self.irr & ~self.imr
        for irq in range(8):
            if self.isr & (1 << irq):
                return -1
            if req & (1 << irq):
                return irq
        return -1


class Pic:
    """Master and slave 8259A. raise_irq(n) records an edge on IRQ n (0-15);
    pending_vector() is the vector to inject or -1; acknowledge() is the
    INTA cycle when it is delivered."""

    def __init__(self):
        self.master = _Chip(0x08)
        self.slave = _Chip(0x70)
        self.ports = (0x20, 0x21, 0xA0, 0xA1, ELCR1, ELCR2)

    def io_write(self, port, width, value):
        if port >= ELCR1:
            i = port - ELCR1
            (self.master, self.slave)[i].elcr = value & _ELCR_MASK[i]
            return
        chip = self.master if port < 0xA0 else self.slave
        if port & 1:
            chip.write_data(value & 0xFF)
        else:
            chip.write_command(value & 0xFF)

    def write_mask(self, port, value):
        """A write to 0x21 or 0xA1 that is OCW1 (not an ICW2-4 of an
        initialisation) sets the new mask: whether it unmasked an input.
        None for any other write, which io_write() takes."""
        if not port & 1 or port >= ELCR1:
            return None
        chip = self.master if port < 0xA0 else self.slave
        if chip._init_step:
            return None
        unmasked = chip.imr & ~value & 0xFF
        chip.imr = value & 0xFF
        return bool(unmasked)

    def io_read(self, port, width):
        if port >= ELCR1:
            return (self.master, self.slave)[port - ELCR1].elcr
        chip = self.master if port < 0xA0 else self.slave
        return chip.imr if port & 1 else chip.read_command()

    def set_irq(self, irq, level):
        """ISA IRQ `irq` (0-15) driven high or low (a sink of hv.vmm.irq)."""
        if irq < 8:
            self.master.set_input(irq, level)
        else:
            self.slave.set_input(irq - 8, level)
            if self.slave.irr:
                self.master.irr |= 1 << _CASCADE_IRQ   # INT of the slave on master IR2

    def raise_irq(self, irq):
        """An edge on IRQ `irq`: the line pulsed high and low again."""
        self.set_irq(irq, True)
        self.set_irq(irq, False)

    def _slave_irq(self):
        irq = self.slave.highest()
        if irq < 0:
            self.master.irr &= ~(1 << _CASCADE_IRQ)
        return irq

    def pending_vector(self):
        irq = self.master.highest()
        if irq == _CASCADE_IRQ:
            sirq = self._slave_irq()
            return -1 if sirq < 0 else self.slave.vector_base + sirq
        return -1 if irq < 0 else self.master.vector_base + irq

    def acknowledge(self):
        """The guest takes the pending interrupt: IRR -> ISR (unless auto-EOI)."""
        irq = self.master.highest()
        if irq < 0:
            return -1
        chips = [(self.master, irq)]
        if irq == _CASCADE_IRQ:
            sirq = self._slave_irq()
            if sirq < 0:
                return -1
            chips.append((self.slave, sirq))
        for chip, n in chips:
            if not chip.level_mask() & (1 << n):
                chip.irr &= ~(1 << n)           # a level input keeps requesting while high
            if not chip.auto_eoi:
                chip.isr |= 1 << n
        chip, n = chips[-1]
        return chip.vector_base + n
