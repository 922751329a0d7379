# Host tests for the ACPI tables (hv.vmm.acpi): found as an OS finds them
# (the RSDP scan of 0xE0000-0xFFFFF, RSDT/XSDT, FADT -> FACS/DSDT), every
# checksum and length, the MADT's entries, and an independent check with
# Debian's acpica-tools: `iasl -d` must decode each table without complaint
# and recompiling its output must give back our bytes.
import shutil
import struct
import subprocess

import pytest

from hv.vmm import acpi

IASL = shutil.which("iasl")


def find_rsdp(mem, base=0xE0000):
    """ACPI 5.2.5.1: search 0xE0000-0xFFFFF on 16-byte boundaries."""
    for off in range(0, len(mem), 16):
        r = mem[off:off + 36]
        if r[:8] == b"RSD PTR " and sum(r[:20]) & 0xFF == 0 and sum(r) & 0xFF == 0:
            return base + off
    return None


class Mem:
    def __init__(self, blob, base=0xE0000):
        self.m = bytearray(0x20000)
        self.m[base - 0xE0000:base - 0xE0000 + len(blob)] = blob

    def table(self, addr):
        off = addr - 0xE0000
        length = struct.unpack_from("<I", self.m, off + 4)[0]
        t = bytes(self.m[off:off + length])
        assert sum(t) & 0xFF == 0 or t[:4] == b"FACS", t[:4]
        return t


def tables(cpus=1, base=0xE0000, apic=True):
    mem = Mem(acpi.blob(base, cpus, apic), base)
    at = find_rsdp(mem.m)
    r = mem.m[at - 0xE0000:at - 0xE0000 + 36]
    assert r[15] == 2 and struct.unpack_from("<I", r, 20)[0] == 36
    rsdt = mem.table(struct.unpack_from("<I", r, 16)[0])
    xsdt = mem.table(struct.unpack_from("<Q", r, 24)[0])
    n = (len(rsdt) - 36) // 4
    ptrs = struct.unpack_from("<%dI" % n, rsdt, 36)
    assert ptrs == struct.unpack_from("<%dQ" % n, xsdt, 36)
    found = {"RSDT": rsdt, "XSDT": xsdt}
    for p in ptrs:
        t = mem.table(p)
        found[t[:4].decode()] = t
    fadt = found["FACP"]
    facs_at, dsdt_at = struct.unpack_from("<II", fadt, 36)
    assert struct.unpack_from("<QQ", fadt, 132) == (facs_at, dsdt_at)
    assert facs_at % 64 == 0
    found["FACS"] = mem.table(facs_at)
    found["DSDT"] = mem.table(dsdt_at)
    return found, at


def test_rsdp_is_found_by_the_bios_area_scan_and_leads_to_every_table():
    found, at = tables()
    assert at == 0xE0000
    assert sorted(found) == ["APIC", "DSDT", "FACP", "FACS", "RSDT", "XSDT"]
    assert len(found["FACP"]) == 276 and found["FACP"][8] == 6
    found, at = tables(base=0xF0000)
    assert at == 0xF0000


def test_a_pc_without_apics_has_no_madt():
    found, _ = tables(apic=False)
    assert sorted(found) == ["DSDT", "FACP", "FACS", "RSDT", "XSDT"]
    assert len(found["RSDT"]) == 36 + 4 and len(found["XSDT"]) == 36 + 8


def test_fadt_fields():
    fadt = tables()[0]["FACP"]
    sci, smi = struct.unpack_from("<HI", fadt, 46)
    evt, _, cnt, _, _, tmr = struct.unpack_from("<6I", fadt, 56)
    assert (sci, smi, evt, cnt, tmr) == (9, 0, 0xB000, 0xB004, 0xB008)
    assert fadt[88:92] == bytes((4, 2, 0, 4)) and fadt[108] == 0x32
    assert struct.unpack_from("<H", fadt, 109)[0] == 0x0007         # legacy devices, 8042, no VGA
    flags = struct.unpack_from("<I", fadt, 112)[0]
    assert flags & (1 << 10) and not flags & (1 << 8) and not flags & (1 << 4)   # reset reg, 24-bit timer, fixed power button
    assert fadt[116:120] == bytes((1, 8, 0, 1)) and struct.unpack_from("<QB", fadt, 120) == (0xCF9, 6)


def test_madt_entries():
    madt = tables(cpus=2)[0]["APIC"]
    assert struct.unpack_from("<II", madt, 36) == (0xFEE00000, 1)
    entries, off = [], 44
    while off < len(madt):
        kind, length = madt[off], madt[off + 1]
        entries.append((kind, bytes(madt[off + 2:off + length])))
        off += length
    assert off == len(madt)
    assert entries[0] == (0, bytes((0, 0, 1, 0, 0, 0))) and entries[1] == (0, bytes((1, 1, 1, 0, 0, 0)))
    assert entries[2] == (1, bytes((2, 0)) + struct.pack("<II", 0xFEC00000, 0))
    assert entries[3] == (2, bytes((0, 0)) + struct.pack("<IH", 2, 0))         # IRQ 0 -> GSI 2
    assert entries[4] == (2, bytes((0, 9)) + struct.pack("<IH", 9, 0x000D))    # SCI: level, high
    assert entries[5] == (4, bytes((0xFF, 0, 0, 1)))                           # LINT1 = NMI


def test_dsdt_holds_s5_with_the_pm1_sleep_type():
    dsdt = tables()[0]["DSDT"]
    assert dsdt[36:] == bytes((0x08, 0x5F, 0x53, 0x35, 0x5F, 0x12, 0x08, 0x04,
                               0x0A, acpi.SLP_TYP_S5, 0x0A, acpi.SLP_TYP_S5, 0, 0))


def test_bad_placement_is_refused():
    with pytest.raises(ValueError):
        acpi.blob(0xE0008)
    with pytest.raises(ValueError):
        acpi.blob(0xD0000)
    with pytest.raises(ValueError):
        acpi.blob(0xFFF00)


def _iasl(args, cwd):
    assert IASL, "iasl is missing: install acpica-tools (python3 tools/deps.py does)"
    p = subprocess.run([IASL] + args, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


@pytest.mark.parametrize("sig, expect", [
    ("FACP", ["PM1A Event Block Address : 0000B000", "PM Timer Block Address : 0000B008",
              "SCI Interrupt : 0009", "8042 Present on ports 60/64 (V2) : 1",
              "VGA Not Present (V4) : 1", "Reset Register Supported (V2) : 1",
              "Address : 0000000000000CF9", "RTC Century Index : 32"]),
    ("APIC", ["Interrupt Source Override", "Local APIC NMI", "Address : FEC00000",
              "Local Apic Address : FEE00000", "Interrupt Input LINT : 01"]),
    ("DSDT", ["Name (_S5, Package (0x04)"]),
    ("FACS", ["Version : 02"]),
    ("RSDT", ["ACPI Table Address   0"]),
    ("XSDT", ["ACPI Table Address   0"]),
])
def test_iasl_decodes_each_table_and_recompiles_it_to_our_bytes(tmp_path, sig, expect):
    table = tables(cpus=2)[0][sig]
    (tmp_path / "t.dat").write_bytes(table)
    _iasl(["-d", "t.dat"], tmp_path)
    dsl = (tmp_path / "t.dsl").read_text()
    for bad in ("Incorrect checksum", "Invalid", "Unknown"):
        assert bad not in dsl, dsl
    flat = " ".join(dsl.split())
    for e in expect:
        assert " ".join(e.split()) in flat, (e, dsl)
    _iasl(["-p", "re", "t.dsl"], tmp_path)
    again = (tmp_path / "re.aml").read_bytes()
    # iasl writes its own compiler ID and revision (bytes 28-35), so the checksum differs.
    assert len(again) == len(table)
    skip = set(range(28, 36)) | {9} if sig != "FACS" else set()
    assert [i for i in range(len(table)) if i not in skip and again[i] != table[i]] == []
