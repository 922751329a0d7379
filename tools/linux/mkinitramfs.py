#!/usr/bin/env python3
"""Build the Linux guest's initramfs: a cpio newc archive (tools/linux/newc.py)
holding busybox-static, /init (tools/linux/init) and the directories it
mounts on. Host tool (CPython, stdlib only), run by `make linux`:

  tools/linux/mkinitramfs.py BUSYBOX INIT OUT
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import newc  # noqa: E402

DIRECTORIES = ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp",
               "root", "etc")
TTY_MAJOR, CONSOLE_MINOR = 5, 1     # /dev/console (Documentation/admin-guide/devices.txt)


def build(busybox, init):
    """The archive's bytes, from busybox's and /init's contents."""
    w = newc.Writer()
    for d in DIRECTORIES:
        w.directory(d, 0o700 if d == "root" else 0o755)
    # The kernel opens /dev/console for init before /init mounts devtmpfs.
    w.char_device("dev/console", TTY_MAJOR, CONSOLE_MINOR)
    w.file("bin/busybox", busybox, 0o755)
    w.symlink("bin/sh", "busybox")
    w.file("init", init, 0o755)
    return w.archive()


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    with open(argv[1], "rb") as f:
        busybox = f.read()
    with open(argv[2], "rb") as f:
        init = f.read()
    if not busybox.startswith(b"\x7fELF"):
        sys.exit("mkinitramfs: %s is not an ELF executable" % argv[1])
    data = build(busybox, init)
    with open(argv[3] + ".tmp", "wb") as f:
        f.write(data)
    os.replace(argv[3] + ".tmp", argv[3])
    print("mkinitramfs: %s, %d bytes" % (argv[3], len(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
