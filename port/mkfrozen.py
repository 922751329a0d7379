#!/usr/bin/env python3
"""Freeze a source tree into the C tables py/frozenmod.c reads.

Usage: mkfrozen.py OUT.c ROOT
Every .py file under ROOT becomes a frozen string module named by its path
relative to ROOT (hv/__init__.py -> package hv). Runs on the build host.
"""
import os
import sys


def c_string(data):
    out = []
    for b in data:
        if b == 0x5C or b == 0x22:
            out.append("\\" + chr(b))
        elif 0x20 <= b < 0x7F and b != 0x3F:  # no '?': avoids trigraphs
            out.append(chr(b))
        else:
            out.append("\\%03o" % b)
    return '"' + "".join(out) + '"'


def main(out_path, root):
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                files.append((os.path.relpath(path, root).replace(os.sep, "/"), path))
    lines = ['#include <stdint.h>', '#include "py/emitglue.h"', '#include "py/frozenmod.h"', ""]
    lines.append("const char mp_frozen_names[] = " +
                 "".join(c_string(n.encode() + b"\0") for n, _ in files) + ' "";')
    sizes, contents = [], []
    for _, path in files:
        with open(path, "rb") as f:
            data = f.read()
        sizes.append(str(len(data)))
        contents.append(c_string(data + b"\0"))
    lines.append("const uint32_t mp_frozen_str_sizes[] = {" + ", ".join(sizes + ["0"]) + "};")
    lines.append("const char mp_frozen_str_content[] =")
    lines.extend("    " + c for c in contents)
    lines.append('    "";')
    lines.append("const mp_frozen_module_t *const mp_frozen_mpy_content[] = {NULL};")
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
