# Emulated platform devices a small guest kernel expects, each a class with
# `ports` and io_read(port, width) / io_write(port, width, value). Pure
# Python, arch-neutral; the VMM routes intercepted port I/O to them.
