# Host tests for the Linux guest's initramfs tools (tools/linux): the cpio
# newc writer read back by GNU cpio, the archive `make linux` built, and the
# apt output the fetcher resolves the kernel package from.
import os
import subprocess
import sys

import pytest

from bzimage_fakes import ROOT, stock

sys.path.insert(0, os.path.join(ROOT, "tools", "linux"))
import fetch  # noqa: E402
import mkinitramfs  # noqa: E402
import newc  # noqa: E402


def cpio(args, archive):
    r = subprocess.run(["cpio", "--quiet"] + args, input=archive, capture_output=True, check=True)
    return r.stdout


def test_gnu_cpio_reads_what_the_writer_wrote(tmp_path):
    w = newc.Writer()
    w.directory("bin")
    w.file("bin/hello", b"hi there\n", 0o755)
    w.symlink("bin/sh", "hello")
    w.directory("dev")
    w.char_device("dev/console", 5, 1)
    w.file("odd", b"x" * 5)                                 # data padded to 4 bytes
    archive = w.archive()
    listing = cpio(["-itv"], archive).decode().splitlines()
    assert [line.split()[0] for line in listing] == ["drwxr-xr-x", "-rwxr-xr-x", "lrwxrwxrwx",
                                                     "drwxr-xr-x", "crw-------", "-rw-r--r--"]
    assert "5,   1" in listing[4] and listing[2].endswith("bin/sh -> hello")
    assert all(line.split()[2:4] == ["root", "root"] for line in listing)
    assert cpio(["-i", "--to-stdout", "bin/hello"], archive) == b"hi there\n"
    assert cpio(["-i", "--to-stdout", "odd"], archive) == b"xxxxx"
    assert newc.parse(archive)[4] == ("dev/console", 0o20600, b"", (5, 1))
    assert len(archive) % 4 == 0 and archive == w.archive()     # reproducible


def test_writer_refuses_what_the_kernel_would_trip_on():
    w = newc.Writer()
    with pytest.raises(ValueError, match="before its directory bin"):
        w.file("bin/x", b"")
    w.directory("bin")
    with pytest.raises(ValueError, match="already in the archive"):
        w.directory("bin")


def test_the_built_initramfs():
    with open(stock("initramfs.cpio"), "rb") as f:
        archive = f.read()
    with open(stock("busybox"), "rb") as f:
        busybox = f.read()
    with open(os.path.join(ROOT, "tools", "linux", "init"), "rb") as f:
        init = f.read()
    assert archive == mkinitramfs.build(busybox, init)            # up to date with its sources
    entries = {name: (mode, data, rdev) for name, mode, data, rdev in newc.parse(archive)}
    assert entries["init"] == (0o100755, init, (0, 0))
    assert entries["bin/busybox"][1] == busybox and entries["bin/sh"][1] == b"busybox"
    assert entries["dev/console"] == (0o20600, b"", (5, 1))
    assert b"MPVISOR-INITRAMFS-READY" in init and init.startswith(b"#!/bin/sh\n")
    for d in ("proc", "sys", "dev", "tmp"):
        assert "mount -t %s" % {"proc": "proc", "sys": "sysfs", "dev": "devtmpfs", "tmp": "tmpfs"}[d] \
            in init.decode() and entries[d][0] == 0o40755


DEPENDS = """linux-image-cloud-amd64
  Depends: linux-image-6.1.0-99-cloud-amd64
"""
SHOW = "Package: linux-image-6.1.0-99-cloud-amd64-unsigned\nVersion: 6.1.300-1\nSize: 1\n"


def test_fetch_resolves_the_concrete_kernel_package(monkeypatch):
    calls = []

    def apt_cache(*args):
        calls.append(args)
        return DEPENDS if args[0] == "depends" else SHOW
    monkeypatch.setattr(fetch, "apt_cache", apt_cache)
    assert fetch.kernel_package() == ("linux-image-6.1.0-99-cloud-amd64-unsigned", "6.1.300-1")
    assert calls == [("depends", "linux-image-cloud-amd64"),
                     ("show", "--no-all-versions", "linux-image-6.1.0-99-cloud-amd64-unsigned")]
    assert fetch.deb_path("busybox-static", "1:1.35") == \
        os.path.join("build", "linux", "download", "busybox-static_1%3a1.35_amd64.deb")


def test_fetch_fails_clearly_when_apt_knows_no_kernel(monkeypatch):
    monkeypatch.setattr(fetch, "apt_cache", lambda *a: "linux-image-cloud-amd64\n")
    with pytest.raises(SystemExit, match="does not depend on exactly one"):
        fetch.kernel_package()
    monkeypatch.setattr(fetch, "apt_cache", lambda *a: "Package: x\n")
    with pytest.raises(SystemExit, match="apt knows no version of busybox-static"):
        fetch.candidate("busybox-static")
