# mpvisor boot script, run once per (soft) boot before the REPL.
# Runs on the bare-metal MicroPython port; reads as the list of boot steps.
import gc
import hw
import cmdline
import multiboot
import hv

info = multiboot.info()
opts = cmdline.parse(info.cmdline)
print("mpvisor: a hypervisor in MicroPython")            # banner
print(hv.cpu().summary())                               # vendor, model, VMX/SVM
print("vendor:", hv.vendor())
print("memory map (from %s):" % (info.loader_name or "the boot loader"))
print(multiboot.format_memory_map(info.memory_map))
print(f"identity map: 0-0x{hw.identity_limit():x}")     # (gc.mem_free() here cost 6 ms)
print("frames:", hv.init())                             # PhysFrameIf over free RAM
gc.threshold(1 << 20)                                   # GC after each MiB: short pauses
if isinstance(opts.get("run"), str) and not hw.raw_repl():  # run=<module>: start it,
    __import__(opts["run"])                             # not when mpremote soft-resets
del info, opts
