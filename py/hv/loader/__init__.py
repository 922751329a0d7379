# Putting kernels into VMs: multiboot images and their information structure,
# hv.boot(), the kernels built into the image and GRUB modules. Arch-neutral.
