# The one per-CPU state of a back end (this port runs on one CPU): made on
# the first vCPU's acquire(), shared by every later one, torn down (SVM or
# VMX turned off, its frames back) when the last one releases it. Used by
# hv.vcpu.svm.percpu and hv.vcpu.vmx.percpu. Bare metal and CPython.


class Owner:
    """state: the back end's PerCpu while any vCPU uses it, else None."""

    def __init__(self, error, name):
        self.state = None
        self._error, self._name = error, name

    def acquire(self, allocator, make):
        """The state, made by make() on first use; one allocator throughout."""
        p = self.state
        if p is None:
            p = self.state = make()
        elif p._allocator is not allocator:
            raise self._error("%s is already on with frames from another allocator" % self._name)
        p.users += 1
        return p

    def release(self, p):
        p.users -= 1
        if p.users == 0:
            p.disable()
            self.state = None
