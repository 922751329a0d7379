# mpvisor boot script, run once per (soft) boot before the REPL.
# Runs on the bare-metal MicroPython port: banner, then the command line.
print("mpvisor: MicroPython on bare metal")
