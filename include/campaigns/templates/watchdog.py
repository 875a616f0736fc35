"""The time budget of a render: a watchdog thread that interrupts the rendering thread.

It raises an exception *in the rendering thread* (``PyThreadState_SetAsyncExc``): unlike ``SIGALRM``, which
only reaches the main thread and would clobber the alarm Airflow uses for ``execution_timeout``, this works
in any thread. The budget is CPU time of the rendering thread (a busy machine does not turn a slow start
into a failure), with a wall-clock backstop. Its limit: an exception is delivered between two bytecodes,
so a single long C call cannot be interrupted -- which is what the size budget is for.
"""

from __future__ import annotations

import ctypes
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
    __slots__ = ("thread_id", "clock", "cpu_start", "cpu_budget", "wall_deadline", "fired")

    def __init__(self, thread_id: int, cpu_budget: float, wall_limit: float) -> None:
        self.thread_id = thread_id
        self.clock = _cpu_clock(thread_id)
        self.cpu_start = time.clock_gettime(self.clock) if self.clock is not None else 0.0
        self.cpu_budget = cpu_budget
        self.wall_deadline = time.monotonic() + wall_limit
        self.fired = False

    def expired(self) -> bool:
        if time.monotonic() >= self.wall_deadline:
            return True
        if self.clock is None:
            return False
        try:
            return time.clock_gettime(self.clock) - self.cpu_start >= self.cpu_budget
        except OSError:
            return False


class _Watchdog:
    """One daemon thread per process; renders register while they run (two dict operations)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._armed: dict[int, _Arm] = {}
        self._thread: threading.Thread | None = None

    def arm(self, cpu_budget: float, wall_limit: float) -> _Arm | None:
        thread_id = threading.get_ident()
        arm = _Arm(thread_id, cpu_budget, wall_limit)
        with self._lock:
            if thread_id in self._armed:  # a render inside a render: the outer budget applies
                return None
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._watch, name="template-watchdog", daemon=True)
                self._thread.start()
            self._armed[thread_id] = arm
            self._wake.notify()
        return arm

    def disarm(self, arm: _Arm | None) -> None:
        """After this returns nothing more is raised in the thread: a pending interrupt is cleared."""
        if arm is None:
            return
        with self._lock:
            if self._armed.get(arm.thread_id) is arm:
                del self._armed[arm.thread_id]
        if arm.fired:
            _set_async_exc(arm.thread_id, None)

    def _watch(self) -> None:
        while True:
            with self._lock:
                while not self._armed:
                    self._wake.wait()
                for arm in self._armed.values():
                    if not arm.fired and arm.expired():
                        arm.fired = True
                        _set_async_exc(arm.thread_id, id(RenderTimeout))
            time.sleep(POLL_SECONDS)


_WATCHDOG = _Watchdog()


def watchdog() -> _Watchdog:
    return _WATCHDOG


def _reset_after_fork() -> None:  # the watchdog thread does not survive a fork; start afresh in the child
    global _WATCHDOG
    _WATCHDOG = _Watchdog()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
