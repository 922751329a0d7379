#!/usr/bin/env python3
"""Fetch the stock Linux guest: Debian bookworm's current cloud kernel and
busybox-static, through apt (`apt-get download`, then `dpkg-deb`; nothing is
installed). Host tool (CPython 3.11, stdlib only), run by `make linux`.

  build/linux/bzImage    the kernel's boot/vmlinuz-RELEASE
  build/linux/busybox    busybox-static's bin/busybox
  build/linux/VERSION    what they are: package, version, uname -r release
  build/linux/download/  the .deb files (a rerun needs no network)

The version moves with Debian's security updates: the concrete package is
resolved each run from the metapackage linux-image-cloud-amd64 (its
Depends: linux-image-6.1.0-N-cloud-amd64, whose -unsigned twin carries the
same vmlinuz without the signing tool chain). Nothing is fetched again while
VERSION names the current candidates; a newer candidate replaces the old.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

META = "linux-image-cloud-amd64"
BUSYBOX = "busybox-static"
OUT = os.path.join("build", "linux")
DOWNLOAD = os.path.join(OUT, "download")


def fail(msg):
    sys.exit("linux: " + msg)


def apt_cache(*args):
    try:
        r = subprocess.run(["apt-cache"] + list(args), capture_output=True, text=True)
    except FileNotFoundError:
        fail("apt-cache not found: this needs a Debian (bookworm) host with apt")
    if r.returncode:
        fail("apt-cache %s failed: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout


def candidate(pkg):
    """The version apt would install of pkg; fail if apt knows none."""
    m = re.search(r"^Version: (\S+)$", apt_cache("show", "--no-all-versions", pkg), re.M)
    if not m:
        fail("apt knows no version of %s (run apt-get update?)" % pkg)
    return m.group(1)


def kernel_package():
    """(package, version): the -unsigned image the cloud metapackage depends on."""
    deps = re.findall(r"^\s+Depends: (linux-image-\S+-cloud-amd64)$", apt_cache("depends", META), re.M)
    if len(deps) != 1:
        fail("%s does not depend on exactly one linux-image-*-cloud-amd64 (found %s)" % (META, deps))
    pkg = deps[0] + "-unsigned"
    return pkg, candidate(pkg)


def read_version():
    try:
        with open(os.path.join(OUT, "VERSION")) as f:
            return dict(line.split(None, 1) for line in f.read().splitlines() if line.strip())
    except (OSError, ValueError):
        return {}


def deb_path(pkg, version):
    # apt-get download names the file pkg_version_arch.deb with ':' quoted as %3a.
    return os.path.join(DOWNLOAD, "%s_%s_amd64.deb" % (pkg, version.replace(":", "%3a")))


def download(pkg, version):
    path = deb_path(pkg, version)
    if os.path.exists(path):
        return path
    os.makedirs(DOWNLOAD, exist_ok=True)
    print("linux: apt-get download %s=%s" % (pkg, version), flush=True)
    r = subprocess.run(["apt-get", "download", "-q", "%s=%s" % (pkg, version)], cwd=DOWNLOAD,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # As root apt warns that _apt cannot write here; that warning is harmless.
    if r.returncode or not os.path.exists(path):
        fail("apt-get download %s=%s failed:\n%s" % (pkg, version, r.stdout.strip()))
    return path


def extract(deb, member_glob):
    """The file matching member_glob in deb's data archive (dpkg-deb
    --fsys-tarfile, so only that member is written), as a temporary path."""
    tmp = tempfile.mkdtemp(prefix="fetch-tmp-", dir=OUT)
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE)
    r = subprocess.run(["tar", "-x", "-C", tmp, "--wildcards", member_glob], stdin=tar.stdout)
    tar.stdout.close()
    if tar.wait() or r.returncode:
        shutil.rmtree(tmp)
        fail("could not extract %s from %s" % (member_glob, deb))
    found = glob.glob(os.path.join(tmp, member_glob))
    if len(found) != 1:
        shutil.rmtree(tmp)
        fail("%s holds %d files matching %s, expected one" % (deb, len(found), member_glob))
    return tmp, found[0]


def install(deb, member_glob, dest):
    tmp, path = extract(deb, member_glob)
    try:
        os.replace(path, dest)
        return os.path.basename(path)
    finally:
        shutil.rmtree(tmp)


def main():
    os.makedirs(OUT, exist_ok=True)
    kpkg, kver = kernel_package()
    bver = candidate(BUSYBOX)
    have = read_version()
    want = {"kernel": "%s %s" % (kpkg, kver), "busybox": "%s %s" % (BUSYBOX, bver)}
    files = [os.path.join(OUT, f) for f in ("bzImage", "busybox")]
    if all(have.get(k) == v for k, v in want.items()) and all(map(os.path.exists, files)):
        print("linux: up to date: %s (%s), %s" % (want["kernel"], have.get("release"), want["busybox"]))
        return 0
    vmlinuz = install(download(kpkg, kver), "./boot/vmlinuz-*", files[0])
    install(download(BUSYBOX, bver), "./bin/busybox", files[1])
    os.chmod(files[1], 0o755)
    want["release"] = vmlinuz[len("vmlinuz-"):]
    with open(os.path.join(OUT, "VERSION.tmp"), "w") as f:
        for k in ("kernel", "release", "busybox"):
            f.write("%s %s\n" % (k, want[k]))
    os.replace(os.path.join(OUT, "VERSION.tmp"), os.path.join(OUT, "VERSION"))
    for old in glob.glob(os.path.join(DOWNLOAD, "*.deb")):
        if old not in (deb_path(kpkg, kver), deb_path(BUSYBOX, bver)):
            os.remove(old)          # a superseded version
    print("linux: %s (release %s), %s" % (want["kernel"], want["release"], want["busybox"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
