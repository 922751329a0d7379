# The VMM: a VM (guest RAM, its vCPUs), vm.run() and the PC the guest sees
# (platform, timer ticks, devices/), its reports and traces. Arch-neutral.
