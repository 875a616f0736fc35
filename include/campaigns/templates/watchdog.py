"""The time budget of a render: a watchdog thread that interrupts the rendering thread.

It raises an exception *in the rendering thread* (``PyThreadState_SetAsyncExc``): unlike ``SIGALRM``, which
only reaches the main thread and would clobber the alarm Airflow uses for ``execution_timeout``, this works
in any thread. The budget is CPU time of the rendering thread (a busy machine does not turn a slow start
into a failure), minus the garbage collections that ran in it (a collection of a big process's heap is not
the template's work, and can take longer than the budget), with a wall-clock backstop. Its limit: an
exception is delivered between two bytecodes, so a single long C call cannot be interrupted -- which is what
the size budget is for.
"""

from __future__ import annotations

import ctypes
import gc
import os
import threading
import time

POLL_SECONDS = 0.02


class RenderTimeout(BaseException):
    """Raised asynchronously in a rendering thread that used up its time budget.

    A BaseException so that no ``except Exception`` inside Jinja or a filter swallows it.
    """


_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.c_void_p)
_set_async_exc.restype = ctypes.c_int


def _cpu_clock(thread_id: int) -> int | None:
    try:
        return time.pthread_getcpuclockid(thread_id)
    except (AttributeError, OSError):  # not on this platform: wall time only
        return None


class _Arm:
    """One thread's render clock, made once per thread and restarted by every render (no allocation, no
    global lock on the hot path); its own lock makes firing and disarming exclusive.

    A render's CPU clock is first read by the watchdog, at its first poll during the render: reading a thread's
    CPU clock is a system call, and nearly every render ends long before a poll. So a budget counts from at most
    ``POLL_SECONDS`` after the render started."""

    __slots__ = ("thread_id", "clock", "lock", "active", "cpu_start", "cpu_budget", "wall_deadline", "fired",
                 "gc_started", "gc_seconds")

    def __init__(self, thread_id: int) -> None:
        self.thread_id = thread_id
        self.clock = _cpu_clock(thread_id)
        self.lock = threading.Lock()
        self.active = self.fired = False
        self.cpu_budget = self.wall_deadline = self.gc_seconds = 0.0
        self.cpu_start: float | None = None
        self.gc_started: float | None = None

    def start(self, cpu_budget: float, wall_limit: float) -> None:
        with self.lock:
            self.cpu_start = None  # read by the watchdog when it first sees this render (expired)
            self.cpu_budget = cpu_budget
            self.wall_deadline = time.monotonic() + wall_limit
            self.gc_seconds, self.gc_started = 0.0, None
            self.fired = False
            self.active = True

    def expired(self) -> bool:
        if time.monotonic() >= self.wall_deadline:
            return True
        if self.clock is None or self.gc_started is not None:  # not during a collection: judged after it
            return False
        try:
            now = time.clock_gettime(self.clock)
        except OSError:
            return False
        if self.cpu_start is None:  # first seen: the budget counts from here, collections before it do not count
            self.cpu_start, self.gc_seconds = now, 0.0
            return False
        return now - self.cpu_start - self.gc_seconds >= self.cpu_budget

    def collection(self, phase: str) -> None:
        """Called in this thread when a garbage collection starts or stops during a render."""
        if self.clock is None:
            return
        now = time.clock_gettime(self.clock)
        if phase == "start":
            self.gc_started = now
        elif self.gc_started is not None:
            self.gc_seconds += now - self.gc_started
            self.gc_started = None


class _Watchdog:
    """One daemon thread per process, polling the threads that are rendering."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arms: list[_Arm] = []
        self._local = threading.local()
        self._thread: threading.Thread | None = None

    def arm(self, cpu_budget: float, wall_limit: float) -> _Arm | None:
        arm = getattr(self._local, "arm", None) or self._register()
        if arm.active:  # a render inside a render: the outer budget applies
            return None
        arm.start(cpu_budget, wall_limit)
        return arm

    def _register(self) -> _Arm:
        arm = self._local.arm = _Arm(threading.get_ident())
        with self._lock:
            alive = {t.ident for t in threading.enumerate()}
            self._arms = [a for a in self._arms if a.thread_id in alive] + [arm]  # ended threads' arms go
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._watch, name="template-watchdog", daemon=True)
                self._thread.start()
        return arm

    def disarm(self, arm: _Arm | None) -> None:
        """After this returns nothing more is raised in the thread: a pending interrupt is cleared."""
        if arm is None:
            return
        with arm.lock:
            arm.active = False
            if arm.fired:
                _set_async_exc(arm.thread_id, None)
                arm.fired = False

    def _watch(self) -> None:
        while True:
            for arm in self._arms:
                if arm.active and not arm.fired:
                    with arm.lock:
                        if arm.active and not arm.fired and arm.expired():
                            arm.fired = True
                            _set_async_exc(arm.thread_id, id(RenderTimeout))
            time.sleep(POLL_SECONDS)


_WATCHDOG = _Watchdog()


def watchdog() -> _Watchdog:
    return _WATCHDOG


def _on_collection(phase: str, info: dict) -> None:  # runs in the thread whose allocation started the collection
    arm = getattr(_WATCHDOG._local, "arm", None)
    if arm is not None and arm.active:
        arm.collection(phase)


gc.callbacks.insert(0, _on_collection)  # first at "start", so other callbacks' time counts as the collection's


def _reset_after_fork() -> None:  # the watchdog thread does not survive a fork; start afresh in the child
    global _WATCHDOG
    _WATCHDOG = _Watchdog()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
