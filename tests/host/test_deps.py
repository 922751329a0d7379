# Host test (CPython) of tools/deps.py's decisions, with a fake euid, fake
# package files and a PATH whose sudo and apt-get are scripts that record
# their arguments: it names what is missing with the exact apt-get line when
# it cannot install, installs through apt-get as root or with passwordless
# sudo, and remakes a venv left without pip. No real apt, no network.
import importlib.util
import os
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.fixture
def deps(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("deps", os.path.join(ROOT, "tools", "deps.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    bin_dir, pkgs = tmp_path / "bin", tmp_path / "pkgs"
    bin_dir.mkdir()
    pkgs.mkdir()
    (pkgs / "gcc").touch()
    # Three packages, nasm and ovmf absent; the interpreter lacks ensurepip
    # until python3-venv is "installed".
    monkeypatch.setattr(mod, "DEBIAN", {name: str(pkgs / name) for name in ("gcc", "nasm", "ovmf")})
    monkeypatch.setattr(mod, "has_ensurepip", lambda: (pkgs / "python3-venv").exists())
    monkeypatch.setattr(mod, "ensure_venv", lambda: None)
    monkeypatch.setenv("PATH", str(bin_dir))
    mod.log = tmp_path / "calls"
    mod.bin_dir, mod.pkgs = bin_dir, pkgs
    return mod


def tool(deps, name, body):
    """A script NAME on the PATH that logs its arguments, then runs BODY."""
    path = deps.bin_dir / name
    path.write_text('#!/bin/sh\necho "%s $*" >> %s\n%s\n' % (name, deps.log, body))
    path.chmod(0o755)


def apt_get(deps, installs=True):
    """Fake apt-get: `install` creates each package's file (or not)."""
    make = 'for p in "$@"; do case $p in -*) ;; *) : > %s/$p ;; esac; done' % deps.pkgs
    tool(deps, "apt-get", 'if [ "$1" = install ]; then %s; fi' % (make if installs else ":"))


def calls(deps):
    return deps.log.read_text().splitlines() if deps.log.exists() else []


def test_not_root_without_sudo_names_the_apt_get_line(deps, monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    apt_get(deps)
    with pytest.raises(SystemExit) as e:
        deps.main([])
    assert str(e.value) == ("deps: missing Debian packages: nasm ovmf python3-venv\n"
                            "deps: install them as root: apt-get install nasm ovmf python3-venv")
    assert calls(deps) == []


def test_not_root_sudo_wants_a_password(deps, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    apt_get(deps)
    tool(deps, "sudo", "exit 1")
    with pytest.raises(SystemExit) as e:
        deps.main([])
    assert str(e.value).endswith("deps: install them as root: apt-get install nasm ovmf python3-venv")
    assert calls(deps) == ["sudo -n true"]


def test_root_installs_with_apt_get(deps, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    apt_get(deps)
    deps.main([])
    assert calls(deps) == ["apt-get update -qq",
                           "apt-get install -y -qq --no-install-recommends nasm ovmf python3-venv"]


def test_passwordless_sudo_installs(deps, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    apt_get(deps)
    tool(deps, "sudo", '[ "$1" = -n ] && shift; "$@"')
    deps.main([])
    assert calls(deps) == ["sudo -n true", "sudo -n apt-get update -qq", "apt-get update -qq",
                           "sudo -n apt-get install -y -qq --no-install-recommends nasm ovmf python3-venv",
                           "apt-get install -y -qq --no-install-recommends nasm ovmf python3-venv"]


def test_nothing_missing_runs_nothing(deps, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    for name in ("nasm", "ovmf", "python3-venv"):
        (deps.pkgs / name).touch()
    deps.main([])
    assert calls(deps) == []


def test_still_missing_after_apt_get_is_an_error(deps, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    apt_get(deps, installs=False)
    (deps.pkgs / "python3-venv").touch()
    with pytest.raises(SystemExit) as e:
        deps.main([])
    assert str(e.value) == "deps: still missing after apt-get: nasm ovmf"


def test_a_python_without_ensurepip_is_named(deps, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(deps, "has_ensurepip", lambda: False)
    apt_get(deps)
    with pytest.raises(SystemExit) as e:
        deps.main([])
    assert "still cannot make a venv with pip (no ensurepip) after installing python3-venv" in str(e.value)
    assert "make PYTHON=/usr/bin/python3" in str(e.value)


def test_fresh_check_wants_only_mmdebstrap(deps, monkeypatch, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(deps, "FRESH_CHECK", {"mmdebstrap": str(tmp_path / "absent")})
    with pytest.raises(SystemExit) as e:
        deps.main(["fresh-check"])
    assert str(e.value) == ("deps: missing Debian packages: mmdebstrap\n"
                            "deps: install them as root: apt-get install mmdebstrap")


def test_the_real_tables_cover_pip_and_leave_mmdebstrap_to_fresh_check(deps):
    spec = importlib.util.spec_from_file_location("deps_real", os.path.join(ROOT, "tools", "deps.py"))
    real = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(real)
    assert real.VENV_PACKAGE == "python3-venv" and "ca-certificates" in real.DEBIAN
    assert "mmdebstrap" not in real.DEBIAN and "mmdebstrap" in real.FRESH_CHECK


def test_a_venv_left_without_pip_is_made_again(tmp_path, monkeypatch):
    # `python3 -m venv` without ensurepip leaves bin/python and no pip.
    spec = importlib.util.spec_from_file_location("deps_venv", os.path.join(ROOT, "tools", "deps.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.has_ensurepip()  # deps.py made the venv running this test
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("half-made\n")
    monkeypatch.setattr(mod, "VENV", str(venv))
    monkeypatch.setattr(mod, "PYPI", {})
    mod.ensure_venv()
    assert (venv / "bin" / "pip").exists()
    assert os.path.realpath(venv / "bin" / "python") != str(venv / "bin" / "python")
