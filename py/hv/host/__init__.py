# The host side: this CPU's identity, the frame allocator (PhysFrameIf over the
# multiboot memory map) and the host's timer. Bare metal; CPython with fakes.
