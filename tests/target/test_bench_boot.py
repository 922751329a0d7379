# What the boot-time and idle-VM figures rest on (bench/run.py): the boot
# script leaves the VM layer unimported, the public hv API still resolves
# (module __getattr__ in py/hv/__init__.py), and the idle-VM measurement
# gives every frame back. QEMU TCG (SVM); one boot.
import os
import sys

import pytest

from conftest import ELF, ROOT, booted, image

sys.path.insert(0, os.path.join(ROOT, "bench"))
from run import IDLE_VM  # noqa: E402


@pytest.fixture(scope="module")
def repl():
    with booted("qemu", kernel=image(ELF)) as r:
        yield r


def test_boot_leaves_the_vm_layer_unimported(repl):
    loaded = repl.eval("sorted(k for k in __import__('sys').modules if k.startswith('hv'))")
    assert "hv.host.cpu" in loaded and "hv.host.frame" in loaded
    assert not {"hv.vmm.vm", "hv.vcpu.api", "hv.loader.mbload", "hv.vmm.run", "hv.vcpu.svm.vcpu", "hv.vcpu.vmx.vcpu"} & set(loaded)


def test_public_api_resolves_lazily(repl):
    repl.exec("import hv")
    for name in ("boot", "help"):           # functions, not modules of the same name
        assert "ImportError" in repl.exec_raw(f"import hv.{name}")[1]
    assert repl.eval("(callable(hv.boot), callable(hv.help), hv.last_vm, type(hv.images()).__name__)") \
        == (True, True, None, "list")
    assert repl.eval("[n for n in ('VM', 'run_guest', 'Exit', 'UnexpectedExit', 'VCpu', 'ImageError',"
                     " 'PhysFrame', 'FrameError', 'CpuInfo') if getattr(hv, n, None) is None]") == []
    assert repl.eval("(lambda: [__import__('hv.vmm.vm').vmm.vm.VM is hv.VM, "
                     "issubclass(hv.ImageError, Exception)])()") == [True, True]
    repl.exec("from hv import VM, ImageError, npt")
    assert repl.eval("(VM is hv.VM, npt is hv.npt, hasattr(hv, 'nosuch'))") == (True, True, False)
    err = repl.exec_raw("hv.nosuch")[1]
    assert "AttributeError" in err and "nosuch" in err


def test_idle_vm_measurement_returns_every_frame(repl):
    repl.exec(IDLE_VM)
    f0 = repl.eval("hv.frames.free_count()")
    imports, (f1, m1), (f2, m2) = repl.eval("idle_vm()", timeout=120)
    assert f1 > 0 and f2 > 0 and m1 > 0 and imports >= 0
    assert repl.eval("hv.frames.free_count()") == f0
