# A fake vCPU for the host tests of the instruction emulator and string I/O
# (hv.x86.emulate, hv.x86.string_io): a register file, RIP/RFLAGS, segment
# bases, a page table as a dict, guest RAM as a dict of bytes, MMIO and port
# handlers that log every access. CPython only.
from hv.x86.fault import GuestFault, PF

M64 = (1 << 64) - 1


class FakeCpu:
    def __init__(self, bits=64):
        self.bits = bits
        self.gprs = [0] * 16
        self.rip = 0x1000
        self.rflags = 0x2
        self.bases = [0] * 6
        self.pages = None           # linear page -> physical page; None: identity
        self.ram = {}               # gpa -> byte
        self.mmio_ranges = []       # (base, size, read(addr, width), write(addr, width, value))
        self.log = []               # ("r"/"w", gpa, width, value) of every MMIO access
        self.ports = {}             # port -> list of values io_in returns, in order
        self.io_log = []            # ("in"/"out", port, width, value)
        self.out_result = None      # what io_out returns (a str ends the run)
        self.translations = 0

    # -- registers ---------------------------------------------------------
    def get_gpr(self, n):
        return self.gprs[n]

    def set_gpr(self, n, value):
        assert 0 <= value <= M64, "register value out of range: %#x" % value
        self.gprs[n] = value

    def seg_base(self, seg):
        return self.bases[seg]

    # -- memory ------------------------------------------------------------
    def translate(self, linear, write):
        self.translations += 1
        if self.pages is None:
            return linear
        page = self.pages.get(linear >> 12)
        if page is None:
            raise GuestFault(PF, 2 if write else 0, linear)
        return page << 12 | (linear & 0xFFF)

    def _device(self, gpa):
        for base, size, read, write in self.mmio_ranges:
            if base <= gpa < base + size:
                return read, write
        return None

    def mmio(self, gpa, width, value):
        assert width in (1, 2, 4, 8), width
        dev = self._device(gpa)
        if dev is not None:
            if value is None:
                v = dev[0](gpa, width)
                self.log.append(("r", gpa, width, v))
                return v
            self.log.append(("w", gpa, width, value))
            dev[1](gpa, width, value)
            return None
        if value is None:
            return sum(self.ram.get(gpa + k, 0) << (8 * k) for k in range(width))
        assert 0 <= value < 1 << (8 * width), "write of %#x at width %d" % (value, width)
        for k in range(width):
            self.ram[gpa + k] = (value >> (8 * k)) & 0xFF
        return None

    def ram_bytes(self, gpa, n):
        return bytes(self.ram.get(gpa + k, 0) for k in range(n))

    def put_ram(self, gpa, data):
        for k, b in enumerate(data):
            self.ram[gpa + k] = b

    # -- ports -------------------------------------------------------------
    def io_in(self, port, width):
        v = self.ports[port].pop(0)
        self.io_log.append(("in", port, width, v))
        return v

    def io_out(self, port, width, value):
        self.io_log.append(("out", port, width, value))
        return self.out_result


class Register:
    """An MMIO register block: reads return `values` (a dict addr -> value,
    default `default`), writes are stored there."""

    def __init__(self, default=0):
        self.values = {}
        self.default = default

    def read(self, addr, width):
        return self.values.get(addr, self.default) & ((1 << (8 * width)) - 1)

    def write(self, addr, width, value):
        self.values[addr] = value
