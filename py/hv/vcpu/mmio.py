# MMIO for the vCPU: ranges registered with register_mmio() stay unmapped in
# the nested tables, so the guest's access takes a nested page fault (SVM
# #NPF, APM2 15.25.6; VMX EPT violation, SDM 3C 29.3.3); the back end's
# handler calls mmio_fault(), which fetches the instruction through the
# guest's page tables (or takes SVM's decode-assist bytes), decodes it
# (hv.x86.decode) and emulates it (hv.x86.emulate) over mmio(): the device's
# handler inside its range, guest RAM elsewhere, and an MmioRead/MmioWrite
# exit where neither (hv.vcpu.emul). Arch-neutral; bare metal and CPython.
from micropython import const
from hv.x86 import gwalk
from hv.x86.decode import F_READ, F_WRITE, OP_INS, OP_NAMES, Insn, decode
from hv.x86.fault import GuestFault
from hv.x86.gpr import MASKS
from hv.x86.insn import DecodeError
from hv.x86.linear import translate_or_fault
from hv.x86.modrm import CS, Truncated
from hv.vcpu import ring
from hv.vcpu.emul import ECHO, MMIO, STRIO

_PAGE = const(4096)
_BIG = const(256)               # ranges of more pages than this are kept in a list
_M32 = const(0xFFFFFFFF)
ring_put, ring_settle = ring.put, ring.settle
_READ_PENDING = const(0x17)     # ring.MMIO_READ | ring.PENDING; width << 5, address << 9
_WRITE = const(8)               # ring.MMIO_WRITE


class Mmio:
    """Mixed into hv.vcpu.api.VCpu. The back end provides seg_base(seg),
    cpl(), code_bits(), paging_regs() -> (cr0, cr3, cr4, efer), set_cr2(),
    clear_shadow() and insn_bytes() (the CPU's copy of the instruction, or
    None)."""

    def _init_mmio(self):
        self.mmio_pages = {}            # guest page -> [(base, end, read, write)] on it
        self.mmio_big = []              # the same for ranges of more than _BIG pages
        self._mmio_active = True        # False: every MMIO access leaves run()
        self._mm_insn = Insn()          # the decoded instruction, reused
        self._mm_buf = bytearray(15)
        self._mm_last = bytearray(15)   # the 15 bytes _mm_insn was decoded from ...
        self._mm_bits = 0               # ... at this code size (0: none)

    def register_mmio(self, gpa, size, read, write):
        """Guest-physical [gpa, gpa+size) is a device: read(addr, width) ->
        value, write(addr, width, value), width 1/2/4/8; either may raise
        GuestFault. None for one side: that direction leaves run() as
        MmioRead/MmioWrite (vm.run asks nobody else: the run ends); None for
        both unregisters the range. Its pages must be unmapped (vm.unmap());
        registering the same range again replaces its handlers."""
        if gpa < 0 or size <= 0:
            raise ValueError("MMIO range %#x+%#x is empty or negative" % (gpa, size))
        end = gpa + size
        old = None
        for r in self._mmio_ranges():
            if r[0] == gpa and r[1] == end:
                old = r
            elif r[0] < end and gpa < r[1]:
                raise ValueError("MMIO range %#x-%#x overlaps the registered %#x-%#x"
                                 % (gpa, end, r[0], r[1]))
        first, last = gpa >> 12, (end - 1) >> 12
        if read is not None or write is not None:
            for p in range(first, last + 1):
                if self.vm.gpa_to_hpa(p << 12) >= 0:
                    raise ValueError("guest-physical page %#x of MMIO range %#x-%#x is mapped: "
                                     "vm.unmap() it first" % (p << 12, gpa, end))
        if old is not None:
            self._mmio_drop(old)
        if read is None and write is None:
            return
        entry = (gpa, end, read, write)
        if last - first >= _BIG:
            self.mmio_big.append(entry)
        else:
            for p in range(first, last + 1):
                self.mmio_pages.setdefault(p, []).append(entry)

    def _mmio_ranges(self):
        seen = list(self.mmio_big)
        for rs in self.mmio_pages.values():
            for r in rs:
                if r not in seen:
                    seen.append(r)
        return seen

    def _mmio_drop(self, entry):
        if entry in self.mmio_big:
            self.mmio_big.remove(entry)
            return
        for p in range(entry[0] >> 12, ((entry[1] - 1) >> 12) + 1):
            rs = self.mmio_pages[p]
            rs.remove(entry)
            if not rs:
                del self.mmio_pages[p]

    def _mmio_range(self, gpa):
        # The registered range holding gpa, or None.
        rs = self.mmio_pages.get(gpa >> 12)
        if rs is not None:
            for r in rs:
                if r[0] <= gpa < r[1]:
                    return r
            return None
        for r in self.mmio_big:
            if r[0] <= gpa < r[1]:
                return r
        return None

    def mmio_handler(self, addr, write):
        """The registered read (write=False) or write handler at addr, or None."""
        r = self._mmio_range(addr)
        return None if r is None else r[3] if write else r[2]

    def mmio_claims(self, gpa):
        """Whether a not-present fault at gpa is MMIO (a device page, or
        outside guest RAM) rather than RAM to back (hv.vmm.run's fault-in)."""
        return gpa >= self.vm.mem_size or (gpa >> 12) in self.mmio_pages or \
            self._mmio_range(gpa) is not None

    def mmio_claims_any(self, gpa, size):
        """Whether mmio_claims() holds for a page of [gpa, gpa+size): one
        pass over the registrations (a handful), not a call per page (a 2
        MiB block of RAM faulted in whole is 512 pages)."""
        end = gpa + size
        if end > self.vm.mem_size:
            return True
        first, last = gpa >> 12, (end - 1) >> 12
        for p in self.mmio_pages:
            if first <= p <= last:
                return True
        for r in self.mmio_big:
            if r[0] < end and gpa < r[1]:
                return True
        return False

    # -- the emulator's callbacks (hv.x86.emulate) ----------------------------
    def mmio(self, gpa, width, value):
        """A guest-physical access of the instruction being emulated: a
        registered handler inside its range, guest RAM elsewhere (backed on
        first touch), otherwise an exit (hv.vcpu.emul)."""
        if self._rmode == ECHO:             # a replay of a write the VMM has seen
            return self._supply if value is None else None
        r = self._mmio_range(gpa)
        if r is not None:
            fn = (r[2] if value is None else r[3]) if self._mmio_active else None
            if fn is not None:
                return self._device(fn, gpa, width, value)
        elif not (gpa >> 12) in self.mmio_pages:
            vm = self.vm
            h = vm.gpa_to_hpa(gpa)
            if h < 0 and gpa < vm.mem_size:
                vm.map_ram(gpa & ~(_PAGE - 1), _PAGE)
                h = vm.gpa_to_hpa(gpa)
            if h >= 0:
                io = vm.io
                if value is None:
                    v = (io.read8 if width == 1 else io.read16 if width == 2 else
                         io.read32 if width == 4 else io.read64)(h)
                    self._last_read = v
                    return v
                (io.write8 if width == 1 else io.write16 if width == 2 else
                 io.write32 if width == 4 else io.write64)(h, value)
                return None
        if self._akind == STRIO:
            raise NotImplementedError("INS/OUTS with its memory operand at guest-physical %#x, "
                                      "neither RAM nor a device handled inside the vCPU" % gpa)
        return self._out(gpa, width, value)

    def _device(self, fn, gpa, width, value):
        buf, rip = self.ring_buf, self._rp_rip
        if value is None:
            ring_put(buf, _READ_PENDING | width << 5 | gpa << 9, 0, rip)
            v = fn(gpa, width) & MASKS[width]
            ring_settle(buf, v)
            self._last_read = v
            return v
        ring_put(buf, _WRITE | width << 5 | gpa << 9, value, rip)
        fn(gpa, width, value)
        return None

    def translate(self, linear, write):
        """Guest-linear -> guest-physical through the guest's page tables;
        GuestFault(#PF) where the guest would take one (hv.x86.linear)."""
        cr0, cr3, cr4, efer = self.paging_regs()
        return translate_or_fault(linear, write, self.cpl() == 3, cr0, cr3, cr4, efer,
                                  self.vm.read_phys64)

    # -- the nested page fault ------------------------------------------------
    def mmio_fault(self, gpa, write):
        """A data access to a not-present guest-physical page that
        mmio_claims(): emulate the instruction. None (handled, RIP past it,
        or the guest given an exception), or the exit to return."""
        d = self._mm_insn
        rip = self.rip
        bits = self.code_bits()
        try:
            code = self.insn_bytes()
            if code is not None:
                self._mm_bits = 0
                try:
                    decode(d, code, bits)
                except Truncated:       # fewer bytes than the instruction: fetch it
                    code = None
            if code is None:
                code = self.fetch_code(rip, bits)
                # The same 15 bytes as last time (a driver's polling loop): the
                # same instruction, decoded already.
                if code is not self._mm_buf or bits != self._mm_bits or code != self._mm_last:
                    self._mm_bits = 0
                    decode(d, code, bits)
                    if code is self._mm_buf:
                        self._mm_last[:] = code
                        self._mm_bits = bits
        except GuestFault as f:
            self.inject_exception(f.vector, f.error_code)
            return None
        except DecodeError as e:
            raise NotImplementedError("MMIO access at guest-physical %#x from rip %#x: %s"
                                      % (gpa, rip, e))
        if d.op >= OP_INS or not d.flags & (F_WRITE if write else F_READ):
            raise NotImplementedError(
                "MMIO %s at guest-physical %#x from rip %#x by %s, which does not %s memory"
                % ("write" if write else "read", gpa, rip, OP_NAMES[d.op],
                   "write" if write else "read"))
        return self._attempt(MMIO, d, gpa, rip, 0)

    def fetch_code(self, rip, bits):
        """The bytes at CS:rip: a reused 15-byte buffer, or a memoryview of
        fewer where the next page is not mapped."""
        linear = self.seg_base(CS) + rip
        if bits != 64:
            linear &= _M32
        vm, buf = self.vm, self._mm_buf
        cr0, cr3, cr4, efer = self.paging_regs()
        n = 0
        while n < 15:
            g = gwalk.translate(linear + n, cr0, cr3, cr4, efer, vm.read_phys64)
            h = vm.gpa_to_hpa(g) if g >= 0 else -1
            if h < 0:
                break
            k = min(15 - n, _PAGE - (g & 0xFFF))
            buf[n:n + k] = vm.io.mem(h, k)
            n += k
        if n == 15:
            return buf
        if n == 0:
            raise NotImplementedError("the instruction at rip %#x (linear %#x) is not in "
                                      "guest RAM" % (rip, linear))
        return memoryview(buf)[:n]
