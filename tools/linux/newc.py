"""The cpio "newc" archive format (SVR4 with no CRC, magic 070701), the one
the Linux kernel unpacks as an initramfs (Documentation/driver-api/
early-userspace/buffer-format.rst). Host tool (CPython, stdlib only):
writes directories, files, symlinks and device nodes owned by root without
needing root, with fixed timestamps so the archive is reproducible.
"""
import stat

MAGIC = b"070701"
TRAILER = "TRAILER!!!"
HEADER_SIZE = 110           # the magic and 13 fields of 8 hex digits


def _pad4(n):
    return -n % 4


def record(ino, name, mode, data=b"", nlink=1, rdev=(0, 0), mtime=0):
    """One header + name + data, each padded to 4 bytes; owner root."""
    encoded = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, nlink, mtime, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
    head = MAGIC + b"".join(b"%08X" % f for f in fields)
    return (head + encoded + bytes(_pad4(HEADER_SIZE + len(encoded)))
            + bytes(data) + bytes(_pad4(len(data))))


class Writer:
    """Entries in the order added (the kernel needs a directory before what
    is in it); archive() gives the bytes, trailer included."""

    def __init__(self, mtime=0):
        self.mtime = mtime
        self._records = []
        self._names = set()

    def _add(self, name, mode, data=b"", nlink=1, rdev=(0, 0)):
        if name in self._names or name == TRAILER:
            raise ValueError("%s is already in the archive" % name)
        parent = name.rpartition("/")[0]
        if parent and parent not in self._names:
            raise ValueError("%s comes before its directory %s" % (name, parent))
        self._names.add(name)
        self._records.append(record(len(self._records) + 1, name, mode, data, nlink, rdev, self.mtime))

    def directory(self, name, perm=0o755):
        self._add(name, stat.S_IFDIR | perm, nlink=2)

    def file(self, name, data, perm=0o644):
        self._add(name, stat.S_IFREG | perm, data)

    def symlink(self, name, target):
        self._add(name, stat.S_IFLNK | 0o777, target.encode())

    def char_device(self, name, major, minor, perm=0o600):
        self._add(name, stat.S_IFCHR | perm, rdev=(major, minor))

    def archive(self):
        return b"".join(self._records) + record(0, TRAILER, 0)


def parse(archive):
    """[(name, mode, data, (rdevmajor, rdevminor))] of a newc archive up to
    its trailer; ValueError on a malformed one. For tests."""
    entries, off = [], 0
    while True:
        if archive[off:off + 6] != MAGIC:
            raise ValueError("no newc magic at offset %d" % off)
        f = [int(archive[off + 6 + 8 * i:off + 14 + 8 * i], 16) for i in range(13)]
        namesize, filesize = f[11], f[6]
        name_at = off + HEADER_SIZE
        name = archive[name_at:name_at + namesize - 1].decode()
        data_at = name_at + namesize + _pad4(HEADER_SIZE + namesize)
        if name == TRAILER:
            return entries
        entries.append((name, f[1], bytes(archive[data_at:data_at + filesize]), (f[9], f[10])))
        off = data_at + filesize + _pad4(filesize)
