# Kernel command-line options: "key=value" and bare "flag" words.
# Pure parsing; runs on the bare-metal port and on CPython.


def parse(text):
    """Return a dict: key=value -> str value, a bare word -> True.
    The first word is the kernel's path when GRUB passes it; it is kept as
    a flag too, which is harmless."""
    opts = {}
    for word in text.split():
        key, sep, value = word.partition("=")
        opts[key] = value if sep else True
    return opts
