# Host tests of the Linux loader against the stock kernel `make linux`
# fetched (Debian bookworm's cloud kernel, build/linux): its setup header,
# version string and 64-bit entry, where it and the initramfs go, and
# loading both into a VM over the fake SVM natives.
import struct

import pytest

from bzimage_fakes import stock, stock_version
from hv.loader import bzimage, linux
from hv.loader.mbload import ImageError
from hv.vcpu.svm import percpu
import svm_fakes

MiB = 1 << 20


@pytest.fixture(autouse=True)
def _fresh_percpu():
    percpu._owner.state = None
    yield
    percpu._owner.state = None


@pytest.fixture(scope="module")
def kernel():
    with open(stock("bzImage"), "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def initrd():
    with open(stock("initramfs.cpio"), "rb") as f:
        return f.read()


def test_header_of_the_stock_kernel(kernel):
    k = bzimage.parse(kernel)
    release = stock_version()["release"]
    assert k.kernel_version.split()[0] == release            # "6.1.0-57-cloud-amd64 (debian-kernel@..."
    assert "Debian " + stock_version()["kernel"].split()[1] in k.kernel_version
    assert k.version >= 0x020C and k.entry64 and k.relocatable           # XLF_KERNEL_64
    assert k.kernel_alignment == 0x200000 and k.pref_address == 0x1000000   # CONFIG_PHYSICAL_START
    assert k.setup_size + len(k.payload) == len(kernel) and k.syssize * 16 == len(k.payload)
    assert len(k.payload) < k.init_size < 128 * MiB
    assert k.cmdline_size == 2047 and k.initrd_addr_max == 0x7FFFFFFF
    # startup_32 and, at +0x200, startup_64 both open with cld; cli (head_64.S).
    assert bytes(k.payload[0:2]) == bytes(k.payload[0x200:0x202]) == b"\xfc\xfa"


def test_plan_for_the_stock_kernel(kernel, initrd):
    p = linux.plan(kernel, 128 * MiB, len(initrd), "console=ttyS0")
    k = p.kernel
    assert p.mode == "long" and p.entry == 0x1000200
    assert k.memory_end <= p.initrd_gpa and p.initrd_gpa + len(initrd) <= 128 * MiB
    assert 128 * MiB - (p.initrd_gpa + len(initrd)) < 0x1000                 # at the top of RAM
    assert struct.unpack_from("<2I", p.boot_params, 0x218) == (p.initrd_gpa, len(initrd))


def test_too_little_ram_for_the_stock_kernel_is_named(kernel, initrd):
    k = bzimage.parse(kernel)
    with pytest.raises(ImageError, match="needs RAM 0x1000000-0x%x" % k.memory_end):
        linux.plan(kernel, 64 * MiB)
    just = (k.memory_end + 0xFFFFF) & ~0xFFFFF
    linux.plan(kernel, just)                                        # fits without an initrd...
    with pytest.raises(ImageError, match="initrd .* does not fit"):
        linux.plan(kernel, just, len(initrd))                       # ...but not with one


def test_load_the_stock_kernel_and_initramfs(kernel, initrd):
    m = svm_fakes.Machine()
    free = m.allocator.free_count()
    vm = m.vm(128 * MiB)
    c = vm.load_linux(kernel, initrd, "console=ttyS0 noapic nolapic acpi=off pci=off")
    k = vm.kernel.kernel
    assert c.rip == 0x1000200 and c.long_mode()
    for off in (0, 0x200, len(k.payload) // 2, len(k.payload) - 64):
        assert vm.read(0x1000000 + off, 64) == bytes(k.payload[off:off + 64])
    assert vm.read(vm.kernel.initrd_gpa, 6) == b"070701"
    bp = vm.read(linux.BOOT_PARAMS, 4096)
    assert bp[0x202:0x206] == b"HdrS" and bp[0x210] == 0xFF
    vm.close()
    assert m.allocator.free_count() == free
