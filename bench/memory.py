"""Peak memory of the benchmark's processes.

VmHWM of this process, reset (``/proc/self/clear_refs``) before each stage so each has its own peak; a
sampler thread adds the RSS of every descendant (executor workers, processes the engine starts itself such
as its rules pool) every 0.2 s: the largest child and the whole tree.
"""

from __future__ import annotations

import os
import resource
import threading


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_bytes() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class TreeSampler(threading.Thread):
    """Samples the RSS of this process and of all its descendants (executor workers, processes the engine
    starts itself, e.g. a rules pool) every ``interval`` seconds: the peak of the whole tree and of the
    largest single child. ``ru_maxrss`` of children cannot say this: a child started by fork + exec
    inherits the parent's high-water mark."""

    def __init__(self, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.interval, self.tree_peak, self.child_peak = interval, 0, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self._stop_event.is_set():
            todo, seen = children(me), set()
            while todo:
                pid = todo.pop()
                if pid not in seen:
                    seen.add(pid)
                    todo += children(pid)
            sizes = [rss(pid) for pid in seen]
            self.tree_peak = max(self.tree_peak, rss(me) + sum(sizes))
            self.child_peak = max([self.child_peak, *sizes])
            self._stop_event.wait(self.interval)

    def stop(self) -> tuple[int, int]:
        self._stop_event.set()
        self.join(5)
        return self.tree_peak, self.child_peak
