# Ports the natives serve inside vcpu.run() without Python (port/natives.h,
# "Fast port I/O"), as KVM's coalesced PIO spares a VMM its exits: an 8-bit
# IN of a port given a value with answer() reads that value; an 8-bit OUT
# to the port given to collect() appends AL to a ring that the vCPU hands,
# in order, to the port's sink after every return of the natives, before
# it looks at the exit that ended the batch. A device lists a port only
# while such an access would do nothing else, and keeps the value current
# (hv.vmm.devices.uart: LSR while no error is latched, THR while neither the
# THRE interrupt nor loopback is on). Arch-neutral; CPython too.
from array import array
from micropython import const

IN = const(1)                   # port/natives.h FAST_IO_IN
OUT = const(2)                  # FAST_IO_OUT
SLOTS = const(8)                # table entries the natives scan
RING = const(4096)              # bytes the natives collect before OUTs go to Python again


class FastIo:
    """`table` (array('I') of port | kind << 16 | value << 24, 0 = free),
    `ring` and `count` (array('Q') of 1) are what the natives read and
    fill (native.fast_io(table, ring, count) while a vCPU is bound)."""

    def __init__(self):
        self.table = array("I", bytes(4 * SLOTS))
        self.ring = bytearray(RING)
        self.count = array("Q", (0,))
        self.sink = None                # fn(bytes) of the collected port
        self._out = None                # the port being collected
        self._slots = {}                # port | kind << 16 -> table index

    def answer(self, port, value):
        """8-bit INs of `port` read `value` until answer(port, None)."""
        self._put(port, IN, value)

    def collect(self, port, sink):
        """8-bit OUTs to `port` go to sink(bytes), in order, until
        collect(port, None); one port at a time."""
        if sink is not None and self._out is not None and self._out != port:
            raise ValueError("port %#x is collected already; one port at a time" % self._out)
        if sink is None and port == self._out:
            self.drain()                # what it wrote while it was listed
        self._out = None if sink is None else port
        self.sink = sink
        self._put(port, OUT, None if sink is None else 0)

    def _put(self, port, kind, value):
        key = port | kind << 16
        i = self._slots.get(key)
        if value is None:
            if i is not None:
                self.table[i] = 0
                del self._slots[key]
            return
        if i is None:
            used = self._slots.values()
            i = next((k for k in range(SLOTS) if k not in used), None)
            if i is None:
                raise ValueError("all %d fast I/O slots are in use" % SLOTS)
            self._slots[key] = i
        self.table[i] = key | (value & 0xFF) << 24

    def clear(self):
        """Nothing listed (the device is gone); what was collected is handed on first."""
        self.drain()
        for i in range(SLOTS):
            self.table[i] = 0
        self._slots.clear()
        self._out = self.sink = None

    def drain(self):
        """Hand the collected bytes to the sink (the vCPU calls this when
        count[0] is not 0)."""
        n = self.count[0]
        if n:
            data = bytes(self.ring[:n])
            self.count[0] = 0
            if self.sink is not None:
                self.sink(data)
