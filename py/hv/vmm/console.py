# What the guest wrote to its console, read by the VMM: markers that end a
# run (a Linux kernel panic's closing line: kernel/panic.c prints "---[ end
# Kernel panic - not syncing: ... ]---" once the panic is reported) and the
# last lines for a report. Arch-neutral, pure Python; bare metal and CPython.

# A marker that ends the run -> the RunResult reason it ends it with.
PANIC = b"---[ end Kernel panic"
MARKERS = ((PANIC, "GuestPanic"),)


class Watch:
    """Scans the bytes appended to `output` (a UART's bytearray) since the
    last check for each marker of `markers` ((bytes, reason) pairs); a
    marker counts once the line holding it has ended, so the report shows
    the whole line, or at once when its pair has a third item, True (a
    shell's prompt, which ends no line). check() is cheap when nothing new
    arrived: one length compare."""

    def __init__(self, output, markers=MARKERS):
        self.output = output
        self.markers = markers
        self.pos = len(output)
        self.longest = max([len(m[0]) for m in markers] or [0])
        self.found = None               # (reason, the line that holds the marker)
        self._held = None               # (offset, reason, at once) of a marker whose line goes on

    def check(self):
        """The reason of the first marker in the new output, or None."""
        out = self.output
        n = len(out)
        if n == self.pos or not self.markers:
            return None
        start = max(0, self.pos - self.longest + 1)   # a marker split across two checks
        self.pos = n
        if self._held is None:
            new = bytes(out[start:n])
            for m in self.markers:
                i = new.find(m[0])
                if i >= 0:
                    self._held = (start + i, m[1], len(m) > 2 and m[2])
                    break
        if self._held is None:
            return None
        at, reason, at_once = self._held
        if not at_once and bytes(out[at:n]).find(b"\n") < 0:
            return None                 # the rest of its line is still to come
        self._held = None
        self.found = (reason, line_at(out, at))
        return reason


def text(data):
    """Console bytes as text: UTF-8, and U+FFFD for each byte that starts
    no valid sequence (a guest writes what it likes; a tail cut out of the
    output may start inside a character). MicroPython's bytes.decode()
    raises UnicodeError whatever its errors argument says."""
    try:
        return data.decode()
    except UnicodeError:
        pass
    out, i, n = [], 0, len(data)
    while i < n:
        b = data[i]
        k = 1 if b < 0x80 else 2 if 0xC2 <= b < 0xE0 else 3 if 0xE0 <= b < 0xF0 else \
            4 if 0xF0 <= b < 0xF5 else 0
        try:
            if not k or i + k > n:
                raise UnicodeError
            out.append(data[i:i + k].decode())
            i += k
        except UnicodeError:
            out.append("\ufffd")
            i += 1
    return "".join(out)


def line_at(output, i):
    """The text of the line of output (bytes) that holds offset i."""
    data = bytes(output)
    a = data.rfind(b"\n", 0, i) + 1
    b = data.find(b"\n", i)
    return text(data[a:b if b >= 0 else len(data)]).strip()


def last_lines(output, n=15):
    """The guest's last n console lines (text, CRs and empty trailing
    lines dropped), for a report."""
    tail = text(bytes(output[-4096:])).replace("\r", "")
    lines = tail.split("\n")
    if len(output) > 4096:
        lines = lines[1:]               # cut off in the middle
    while lines and not lines[-1].strip():
        lines.pop()
    return lines[-n:]
