# docs/tutorial.md, run: every `>>> ` statement of its ```pycon blocks on one
# booted mpvisor (QEMU TCG, AMD SVM) in order, and every `$ ` command of its
# ```console blocks on the build host, each output compared with what the
# tutorial shows ("..." in a line stands for any text, a line "..." for any
# lines, a line "^C" for pressing Ctrl-C there), so the tutorial cannot rot.
# A traced "[exit N] ExternalInterrupt" line (the host's timer, at any point:
# the tutorial says so) is left out of the output unless the block shows one.
import os
import re
import shlex
import subprocess

import pytest

from conftest import ELF, ROOT, booted, image

from harness.makerun import build_lock, make_run

TUTORIAL = os.path.join(ROOT, "docs", "tutorial.md")


def blocks(path=TUTORIAL):
    """[(language, [lines])] of the fenced pycon and console blocks."""
    out, lang, body = [], None, []
    with open(path) as f:
        for line in f.read().splitlines():
            if lang is None:
                m = re.match(r"^```(pycon|console)\s*$", line)
                if m:
                    lang, body = m.group(1), []
            elif line.startswith("```"):
                out.append((lang, body))
                lang = None
            else:
                body.append(line)
    return out


def pycon_steps(lines):
    """[(source, expected lines)]; a "..." line continues a compound statement."""
    steps = []
    for line in lines:
        if line.startswith(">>> "):
            steps.append([line[4:], []])
        elif steps and not steps[-1][1] and steps[-1][0].split("\n")[0].endswith(":") \
                and (line.startswith("... ") or line == "..."):
            steps[-1][0] += "\n" + line[4:]
        else:
            steps[-1][1].append(line)
    return [(src, expected) for src, expected in steps]


def console_steps(lines):
    steps = []
    for line in lines:
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return steps


def _pattern(line):
    return re.compile("^" + ".*".join(re.escape(p) for p in line.split("...")) + "$")


_HOST_TICK = re.compile(r"\[exit \d+\] ExternalInterrupt ")


def matches(expected, actual):
    """actual lines against expected ones ("..." wildcards, see the top)."""
    if not any("ExternalInterrupt" in e for e in expected):
        actual = [a for a in actual if not _HOST_TICK.match(a)]
    memo = {}

    def at(i, j):
        key = (i, j)
        if key not in memo:
            if i == len(expected):
                memo[key] = j == len(actual)
            elif expected[i] == "...":
                memo[key] = any(at(i + 1, k) for k in range(j, len(actual) + 1))
            else:
                memo[key] = j < len(actual) and bool(_pattern(expected[i]).match(actual[j])) \
                    and at(i + 1, j + 1)
        return memo[key]
    return at(0, 0)


def text_lines(text):
    return text.replace("\r\n", "\n").rstrip("\n").split("\n") if text.strip() else []


def run_statement(repl, src, expected):
    code = f"exec(compile({src + chr(10)!r}, '<stdin>', 'single'))"
    if "^C" not in expected:
        out, err = repl.exec_raw(code, timeout=300)
        return text_lines(out + err)
    before = expected[:expected.index("^C")]
    m = repl.machine
    repl.send_raw_code(code)
    m.read_until(b"OK", 30)
    seen = ""
    while not matches(before + ["..."], text_lines(seen)) or not seen.endswith(before[-1]):
        chunk = m.read_some(60)
        assert chunk, f"no {before!r} before Ctrl-C; got {seen!r}"
        seen += chunk.decode(errors="replace")
    m.write(b"\x03")
    rest = m.read_until(b"\x04>", 60).decode(errors="replace")
    out, _, err = rest[:-2].partition("\x04")
    return text_lines(seen + out + err)


@pytest.fixture(scope="module")
def repl():
    with booted("qemu", kernel=image(ELF)) as r:
        yield r


def test_tutorial_has_both_kinds_of_steps():
    kinds = {lang for lang, _ in blocks()}
    assert kinds == {"pycon", "console"}


def test_tutorial_repl_session(repl):
    for lang, lines in blocks():
        if lang != "pycon":
            continue
        for src, expected in pycon_steps(lines):
            got = run_statement(repl, src, expected)
            want = [e for e in expected if e != "^C"]
            assert matches(want, got), f">>> {src}\nexpected:\n" + "\n".join(want) + \
                "\ngot:\n" + "\n".join(got)


def test_tutorial_shell_commands():
    for lang, lines in blocks():
        if lang != "console":
            continue
        for cmd, expected in console_steps(lines):
            if cmd.startswith("make run"):
                target, *args = shlex.split(cmd)[1:]
                make_run(*args, target=target, timeout=900 if target == "run-linux" else 240,
                         done=lambda text: matches(expected + ["..."], text_lines(text)))
                continue
            with build_lock():
                p = subprocess.run(cmd, shell=True, cwd=ROOT, capture_output=True, text=True,
                                   timeout=600)
            assert p.returncode == 0, f"$ {cmd}\n{p.stdout}{p.stderr}"
            if expected:
                got = text_lines(p.stdout + p.stderr)
                assert matches(expected, got), f"$ {cmd}\n" + "\n".join(got)
