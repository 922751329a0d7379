# An independent reference for the MMIO decoder's host tests: GNU objdump
# (Debian binutils, a dependency in tools/deps.py) disassembles many
# instructions in one call, each in its own NOP-padded slot, and its Intel-
# syntax text is parsed into length, mnemonic and operands. CPython only.
import re
import subprocess
import tempfile

OBJDUMP = "/usr/bin/objdump"
SLOT = 48                       # >= 15 bytes of instruction + 33 NOPs to resync
_MACHINE = {16: ["-m", "i8086"], 32: ["-m", "i386"], 64: ["-m", "i386:x86-64"]}
_LINE = re.compile(r"^\s*([0-9a-f]+):\t([0-9a-f ]+?)\s*(?:\t(.*))?$")
_REX_ONLY = re.compile(r"^rex(\.[WRXB]+)?$")
# Prefix words objdump writes before a mnemonic.
PREFIX_WORDS = {"lock", "rep", "repz", "repnz", "repe", "repne", "data16", "data32",
                "addr16", "addr32", "cs", "ds", "es", "ss", "fs", "gs", "bnd",
                "notrack", "xacquire", "xrelease"}
SIZES = {"BYTE": 1, "WORD": 2, "DWORD": 4, "QWORD": 8}
_MEM = re.compile(r"^(?:(BYTE|WORD|DWORD|QWORD) PTR )?(?:([cdefgs]s):)?(\[[^\]]*\]|0x[0-9a-f]+)$")


class Disasm:
    """objdump's view of one instruction: length, mnemonic, operands (a list
    of str as printed), the raw text."""

    def __init__(self, length, text):
        self.length = length
        self.text = text
        words = text.split("#")[0].split()
        while words and (words[0] in PREFIX_WORDS or _REX_ONLY.match(words[0])):
            words.pop(0)
        self.mnemonic = words[0] if words else ""
        rest = " ".join(words[1:])
        self.operands = [o.strip() for o in rest.split(",")] if rest else []

    def __repr__(self):
        return "<Disasm %d %r>" % (self.length, self.text)


def disassemble(instructions, bits):
    """One Disasm per bytes object in `instructions` (each at most 15
    bytes, decoded in code size `bits`)."""
    blob = bytearray()
    for code in instructions:
        assert len(code) <= 15
        blob += bytes(code) + b"\x90" * (SLOT - len(code))
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(blob)
        f.flush()
        out = subprocess.run([OBJDUMP, "-D", "-b", "binary", "-M", "intel", "-w"]
                             + _MACHINE[bits] + [f.name],
                             capture_output=True, text=True, check=True).stdout
    lines = []                                  # [offset, nbytes, text]
    for line in out.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        off, nbytes, text = int(m.group(1), 16), len(m.group(2).split()), m.group(3)
        if text is None:                        # a continuation of the bytes above
            lines[-1][1] += nbytes
        else:
            lines.append([off, nbytes, text.strip()])
    first = {}
    k = 0
    while k < len(lines):
        off, nbytes, text = lines[k]
        if off % SLOT == 0:
            # Prefixes objdump prints on a line of their own (a REX that a
            # later legacy prefix makes ignored: SDM 2A 2.2.1) belong to
            # the instruction after them.
            while _prefixes_only(text) and k + 1 < len(lines):
                k += 1
                nbytes += lines[k][1]
                text = text + " " + lines[k][2]
            first[off // SLOT] = Disasm(nbytes, text)
        k += 1
    return [first[i] for i in range(len(instructions))]


def _prefixes_only(text):
    return all(w in PREFIX_WORDS or _REX_ONLY.match(w) for w in text.split())


def memory_operand(text):
    """(size in bytes or None, segment name or None, base, index, scale,
    disp) of an objdump Intel-syntax memory operand; None if not memory.
    base/index are register names or None ('riz'/'eiz' mean no index)."""
    m = _MEM.match(text)
    if not m:
        return None
    size = SIZES[m.group(1)] if m.group(1) else None
    seg, body = m.group(2), m.group(3)
    if not body.startswith("["):
        return size, seg, None, None, 0, int(body, 16)
    base = index = None
    scale, disp = 0, 0
    for sign, term in re.findall(r"([+-]?)([^+-]+)", body[1:-1]):
        neg = sign == "-"
        if term.startswith("0x"):
            disp += -int(term, 16) if neg else int(term, 16)
        elif "*" in term:
            reg, s = term.split("*")
            if reg not in ("riz", "eiz"):
                index, scale = reg, {"1": 0, "2": 1, "4": 2, "8": 3}[s]
        elif base is None:
            base = term
        else:
            index = term                        # 16-bit forms: [bx+si]
    return size, seg, base, index, scale, disp
