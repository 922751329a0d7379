"""Fake host clocks for the host tests: a TSC that advances a fixed number
of cycles each time it is read, and a host timer that records what it was
armed for (None for a disarm)."""


class Tsc:
    """A TSC at `start` that advances `step` cycles every time it is read."""

    def __init__(self, step=0, start=0):
        self.t, self.step = start, step

    def __call__(self):
        self.t += self.step
        return self.t


class Timer:
    """hv.host.timer's interface: arm(seconds) and disarm(), recorded in
    `armed` (a disarm as None)."""

    def __init__(self):
        self.armed = []

    def arm(self, seconds):
        self.armed.append(seconds)
        return seconds

    def disarm(self):
        self.armed.append(None)
