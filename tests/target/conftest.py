# On-target test setup: boots build/mpvisor.elf (QEMU -kernel) or
# build/mpvisor.iso (QEMU SeaBIOS/OVMF, Bochs) and talks to the raw REPL.
# Each test module boots its machine once (module-scoped fixtures).
import contextlib
import os
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
for p in (os.path.join(ROOT, "qemu"), os.path.join(ROOT, "tests")):
    if p not in sys.path:
        sys.path.insert(0, p)

from launch import Machine  # noqa: E402
from harness.repl import Repl  # noqa: E402

ELF = os.path.join(ROOT, "build", "mpvisor.elf")
ISO = os.path.join(ROOT, "build", "mpvisor.iso")
BOOT_TIMEOUT = {"qemu": 30, "bochs": 90}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # item.failed_call: whether the test's body failed (a fixture's teardown
    # may then put the module's shared machine right for the next test).
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.failed_call = report.failed


@pytest.fixture
def guest_stopped_on_failure(request, repl):
    """For a module whose tests run guests one after another on one REPL
    (`pytestmark = pytest.mark.usefixtures(...)`): after a test that failed,
    its guest, perhaps still running, is stopped and closed
    (harness.linux.recover), so one failure stays one."""
    yield
    if getattr(request.node, "failed_call", False):
        from harness import linux
        linux.recover(repl)


def image(path):
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: build it with `make` first")
    return path


@contextlib.contextmanager
def booted(emulator="qemu", **options):
    """Boot an image, wait for the banner's prompt and yield a Repl in raw mode."""
    with Machine(emulator, **options) as machine:
        repl = Repl(machine)
        repl.wait_prompt(timeout=BOOT_TIMEOUT[emulator])
        repl.enter_raw()
        yield repl


@contextlib.contextmanager
def bochs_linux(tmp_path_factory, model, vendor):
    """Bochs `model` at linux.BOCHS_IPS booted from an ISO whose GRUB entry
    carries the Linux guest (harness.linux.make_iso: the legacy PC's command
    line), at the raw REPL with hv imported and free0 = its free frames."""
    from harness import linux
    iso = tmp_path_factory.mktemp("linux") / "linux.iso"
    linux.make_iso(image(ELF), iso)
    with booted("bochs", iso=str(iso), model=model, ips=linux.BOCHS_IPS) as r:
        r.timeout = 300
        assert r.eval("__import__('hv').vendor()") == vendor
        r.exec("import hv\nfree0 = hv.frames.free_count()")
        yield r


@contextlib.contextmanager
def back_end(arch, imports=None, setup=None, model=None, timeout=None):
    """A booted mpvisor whose back end is `arch`, checked: 'amd' (SVM under
    QEMU TCG, -kernel) or 'intel' (VMX under Bochs corei7_skylake_x, the
    ISO), or the Bochs `model` named; REPL timeouts for a busy machine
    (or `timeout`), `import imports` and the code `setup` done."""
    if arch == "amd" and model is None:
        machine, wait = booted("qemu", kernel=image(ELF)), 60
    else:
        machine, wait = booted("bochs", iso=image(ISO), model=model or "corei7_skylake_x"), 300
    with machine as r:
        assert r.eval("__import__('hv').vendor()") == arch
        r.timeout = timeout or wait     # well beyond what each call takes on an idle machine
        if imports:
            r.exec("import " + imports)
        if setup:
            r.exec(setup)
        yield r


# Bochs models for modules that run their cases on both back ends.
BOCHS_MODELS = {"bochs-vmx": ("corei7_skylake_x", "intel"), "bochs-ryzen": ("ryzen", "amd")}


@contextlib.contextmanager
def bochs_model(name, setup, timeout):
    """back_end() under Bochs as BOCHS_MODELS[name]; yields (repl, vendor)."""
    model, arch = BOCHS_MODELS[name]
    with back_end(arch, setup=setup, model=model, timeout=timeout) as r:
        yield r, arch


@pytest.fixture(scope="module")
def qemu_repl():
    with booted("qemu", kernel=image(ELF)) as repl:
        yield repl


@pytest.fixture
def boot():
    """Factory for tests that need their own machine (fresh state, odd options)."""
    with contextlib.ExitStack() as stack:
        yield lambda emulator="qemu", **options: stack.enter_context(booted(emulator, **options))
