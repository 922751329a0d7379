# Host-test setup: makes py/ importable on CPython and stands in for the
# MicroPython-only `micropython` module (const, native, viper) and for the
# port's native `hw` module, so the modules frozen into the bare-metal image
# import under pytest.

import sys
import types
from pathlib import Path

PY_DIR = Path(__file__).resolve().parents[2] / "py"
PAYLOADS = Path(__file__).resolve().parents[1] / "payloads"   # sent to the target, not in the image
for _p in (PAYLOADS, PY_DIR):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))


def _identity(f):
    return f


def _install_fake_micropython():
    # Installed unconditionally: a real `micropython` package on the host
    # (e.g. an embedding of the interpreter) must not shadow the shim.
    mp = types.ModuleType("micropython")
    mp.const = lambda x: x
    mp.native = _identity
    mp.viper = _identity
    mp.kbd_chars = []               # what micropython.kbd_intr() was given, in order
    mp.kbd_intr = mp.kbd_chars.append
    sys.modules["micropython"] = mp


def _install_hw_stub():
    # `import hw` (e.g. in hv/__init__.py) must succeed on the host, but any
    # use of a native must fail loudly unless the test installs a fake of it.
    if "hw" in sys.modules:
        return
    hw = types.ModuleType("hw")

    def missing(name):
        raise AttributeError("hw.%s is a bare-metal native; fake it in the test" % name)

    hw.__getattr__ = missing
    sys.modules["hw"] = hw


_install_fake_micropython()
_install_hw_stub()
