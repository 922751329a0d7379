# Host tests of the VM's frame accounting and isolation invariants over the
# fake SVM and VMX machines: building a VM with an allocator that runs dry
# after k frames, for every k, raises OutOfFrames and keeps no frame; the
# nested tables map only guest RAM, onto frames the VM owns, never shared.
import pytest

from hv.host.frame import OutOfFrames, PhysFrameIf
from hv.vcpu.svm import percpu as svm_percpu
from hv.vcpu.vmx import percpu as vmx_percpu
import svm_fakes
import vmx_fakes

MiB = 1 << 20
BACKENDS = {"amd": svm_fakes.Machine, "intel": vmx_fakes.Machine}


@pytest.fixture(autouse=True)
def _fresh_percpu():
    svm_percpu._owner.state = vmx_percpu._owner.state = None
    yield
    svm_percpu._owner.state = vmx_percpu._owner.state = None


class FailAfter(PhysFrameIf):
    """The machine's allocator until `budget` allocations succeeded; None after."""

    def __init__(self, inner, budget):
        self.inner, self.budget = inner, budget

    def _take(self):
        if self.budget <= 0:
            return False
        self.budget -= 1
        return True

    def alloc_frame(self):
        return self.inner.alloc_frame() if self._take() else None

    def alloc_frames(self, count, align=1):
        return self.inner.alloc_frames(count, align) if self._take() else None

    def dealloc_frame(self, paddr):
        self.inner.dealloc_frame(paddr)

    def dealloc_frames(self, paddr, count):
        self.inner.dealloc_frames(paddr, count)

    def phys_to_virt(self, paddr):
        return self.inner.phys_to_virt(paddr)

    def mem(self, paddr, size):
        return self.inner.mem(paddr, size)

    def free_count(self):
        return self.inner.free_count() if self.budget > 0 else 0


def build(m, allocator, mem, prealloc):
    from hv.vmm.vm import VM
    vm = VM(mem, allocator, io=m.hw, native=m.svm if hasattr(m, "svm") else m.vmx,
            arch="amd" if hasattr(m, "svm") else "intel", prealloc=prealloc)
    try:
        c = vm.new_vcpu()
        c.set_entry(0x10000)
        c.setup("long")
        vm.write(0x10000, b"\xf4" * 0x3000)
    except BaseException:
        vm.close()
        raise
    return vm


@pytest.mark.parametrize("arch", sorted(BACKENDS))
@pytest.mark.parametrize("prealloc", [False, True], ids=["lazy", "prealloc"])
def test_running_dry_after_k_frames_leaks_nothing_for_every_k(arch, prealloc):
    m = BACKENDS[arch]()
    a = m.allocator
    free0 = a.free_count()
    k = 0
    while True:
        try:
            vm = build(m, FailAfter(a, k), 3 * MiB, prealloc)
        except MemoryError as e:
            assert isinstance(e, OutOfFrames), repr(e)
            assert "out of physical frames for " in str(e) and "needs " in str(e), str(e)
            assert a.free_count() == free0, "k=%d leaked %d frames" % (k, free0 - a.free_count())
            assert svm_percpu._owner.state is None and vmx_percpu._owner.state is None, k
            k += 1
            continue
        vm.close()
        assert a.free_count() == free0
        break
    # Every allocation of a whole build was a failure point once.
    assert k >= (8 if prealloc else 12), k
    a.check()


@pytest.mark.parametrize("arch", sorted(BACKENDS))
def test_ram_bigger_than_free_frames_names_both_counts(arch):
    m = BACKENDS[arch]()
    a = m.allocator
    free0 = a.free_count()
    with pytest.raises(OutOfFrames) as err:
        build(m, a, 64 * MiB, True)
    assert err.value.needed == 16384 and err.value.free <= free0
    assert "needs 16384, %d free" % err.value.free in str(err.value)
    assert a.free_count() == free0
    hoard = [a.alloc_frame() for _ in range(free0 - 20)]
    with pytest.raises(OutOfFrames):
        build(m, a, 1 * MiB, True)                     # 256 frames, 20 free
    for p in hoard:
        a.dealloc_frame(p)
    assert a.free_count() == free0


def owned_ranges(vm):
    out = [(vm._pages[k], vm._pages[k] + 0x1000) for k in vm._owned if k >= 0]
    out += [(vm._large[-k - 1], vm._large[-k - 1] + 2 * MiB) for k in vm._owned if k < 0]
    return sorted(out)


def inside(ranges, start, end):
    return any(s <= start and end <= e for s, e in ranges)


@pytest.mark.parametrize("arch", sorted(BACKENDS))
def test_nested_tables_map_only_guest_ram_onto_the_vms_own_frames(arch):
    m = BACKENDS[arch]()
    vms = [build(m, m.allocator, size, True) for size in (3 * MiB, 2 * MiB + 0x3000)]
    seen_frames = set()
    for vm in vms:
        leaves = vm.npt.leaves()
        own = owned_ranges(vm)
        assert sum(size for _, _, size in leaves) == vm.mem_size
        for gpa, hpa, size in leaves:
            assert gpa + size <= vm.mem_size, "a leaf reaches past guest RAM"
            assert hpa % size == 0 and inside(own, hpa, hpa + size)
            assert vm.gpa_to_hpa(gpa) == hpa
        assert any(size == 2 * MiB for _, _, size in leaves)      # large pages where they fit
        frames = {h + i for _, h, size in leaves for i in range(0, size, 0x1000)}
        tables = set(vm.npt.table_addresses())
        assert len(frames) == vm.mem_size // 0x1000 and not frames & tables
        assert not (frames | tables) & seen_frames, "two VMs share a frame"
        seen_frames |= frames | tables
        assert vm.npt.translate(vm.mem_size) is None
    for vm in vms:
        vm.close()


@pytest.mark.parametrize("arch", sorted(BACKENDS))
def test_a_closed_vms_frames_come_back_zeroed(arch):
    m = BACKENDS[arch]()
    a = m.allocator
    free0 = a.free_count()
    vm = build(m, a, 4 * MiB, True)
    used = {h for _, h, _ in vm.npt.leaves()}
    vm.write(0, b"\xa5" * (4 * MiB))
    vm.close()
    assert a.free_count() == free0
    vm = build(m, a, 4 * MiB, True)
    assert {h for _, h, _ in vm.npt.leaves()} & used       # the same frames again
    data = vm.read(0x20000, 4 * MiB - 0x20000)
    assert data == bytes(len(data))
    vm.close()


def test_map_ram_stays_inside_guest_ram():
    m = svm_fakes.Machine()
    vm = build(m, m.allocator, 1 * MiB, False)
    for gpa, size in ((1 * MiB, 0x1000), (0xFF000, 0x2000), (-0x1000, 0x1000), (0x800, 0x1000)):
        with pytest.raises(ValueError):
            vm.map_ram(gpa, size)
    vm.close()


def test_a_vmx_vcpu_whose_controls_fail_gives_its_frames_back(monkeypatch):
    from hv.vcpu.vmx import controls
    m = vmx_fakes.Machine()
    a = m.allocator
    free0 = a.free_count()
    vm = m.vm(1 * MiB)

    def refuse(c):
        raise vmx_percpu.VmxError("this CPU cannot set 0x1 (allowed 0x0)")
    monkeypatch.setattr(controls, "write_controls", refuse)
    with pytest.raises(vmx_percpu.VmxError):
        vm.new_vcpu()
    assert vm.vcpus == [] and vmx_percpu._owner.state is None
    vm.close()
    assert a.free_count() == free0
