#!/usr/bin/env python3
"""Embed the py/ tree in the kernel as a C table for port/embedded.c.

Usage: mkembed.py OUT.c ROOT (py|mpy) [MPY_CROSS]
Each .py file under ROOT is embedded by its path relative to ROOT
(hv/__init__.py serves `import hv`): as source, or precompiled with
mpy-cross (-march=x64 so @native/@viper functions load as machine code).
Runs on the build host.
"""
import os
import subprocess
import sys
import tempfile


def sources(root):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                yield os.path.relpath(path, root).replace(os.sep, "/"), path


def compile_mpy(mpy_cross, rel, path, tmp):
    out = os.path.join(tmp, rel.replace("/", "_") + ".mpy")
    subprocess.run([mpy_cross, "-march=x64", "-s", rel, "-o", out, path], check=True)
    with open(out, "rb") as f:
        return f.read()


def main(out_path, root, kind, mpy_cross=None):
    if kind not in ("py", "mpy"):
        sys.exit("mkembed.py: kind must be py or mpy, not %r" % kind)
    lines = ["#include <stddef.h>",
             "struct embedded_file { const char *name; const unsigned char *data; size_t len; };"]
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (rel, path) in enumerate(sources(root)):
            if kind == "mpy":
                data, name = compile_mpy(mpy_cross, rel, path, tmp), rel[:-3] + ".mpy"
            else:
                with open(path, "rb") as f:
                    data, name = f.read(), rel
            body = ",".join(str(b) for b in data)
            lines.append("static const unsigned char file_%d[] = {%s};" % (i, body))
            table.append('    {"%s", file_%d, %d},' % (name, i, len(data)))
    lines.append("const struct embedded_file embedded_files[] = {")
    lines.extend(table)
    lines.append("    {NULL, NULL, 0},")
    lines.append("};")
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
