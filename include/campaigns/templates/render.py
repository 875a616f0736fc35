"""Rendering a broker admin's template for one lead: sandboxed, strict, within a size and time budget.

A template that runs out of time ``STRIKES_BEFORE_QUARANTINE`` times in this process is quarantined: it
fails at once for the remaining leads, so a hostile template costs a chunk about a second, not a second per
lead. ``Quarantine`` is that memory; ``render`` uses the process's own unless it is given one.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections.abc import Mapping
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import SecurityError

from include.campaigns.templates.environment import ENVIRONMENT
from include.campaigns.templates.limits import TemplateLimitError
from include.campaigns.templates.watchdog import RenderTimeout, watchdog

MAX_OUTPUT_CHARS = 20_000
RENDER_TIME_BUDGET_SECONDS = 0.5  # CPU seconds of the rendering thread, per render
RENDER_WALL_LIMIT_SECONDS = 5.0  # wall-clock backstop (a render that cannot get the CPU)
STRIKES_BEFORE_QUARANTINE = 2


class TemplateRenderError(Exception):
    """The template could not be rendered; the message says why, for the campaign log."""


class Quarantine:
    """How often each template (by source) ran out of time in this process."""

    def __init__(self, strikes_allowed: int = STRIKES_BEFORE_QUARANTINE) -> None:
        self.strikes_allowed = strikes_allowed
        self._strikes: dict[str, int] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(source: str) -> str:
        return hashlib.sha1(source.encode("utf-8", "surrogatepass")).hexdigest()

    def is_quarantined(self, source: str) -> bool:
        if not self._strikes:  # nothing ever timed out in this process: no hash of the source per render
            return False
        return self._strikes.get(self.key(source), 0) >= self.strikes_allowed

    def strike(self, source: str) -> None:
        with self._lock:
            key = self.key(source)
            self._strikes[key] = self._strikes.get(key, 0) + 1

    def clear(self) -> None:
        with self._lock:
            self._strikes.clear()


_QUARANTINE = Quarantine()


def process_quarantine() -> Quarantine:
    return _QUARANTINE


def _reset_after_fork() -> None:  # a fresh lock in the child
    global _QUARANTINE
    _QUARANTINE = Quarantine()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


@functools.lru_cache(maxsize=1024)
def _compile(source: str):
    return ENVIRONMENT.from_string(source)


def _render_guarded(source: str, context: Mapping[str, Any]) -> str:
    parts: list[str] = []
    size = 0
    for piece in _compile(source).generate(**context):
        size += len(piece)
        if size > MAX_OUTPUT_CHARS:
            raise TemplateRenderError(f"rendered message longer than {MAX_OUTPUT_CHARS} characters")
        parts.append(piece)
    return "".join(parts)


def render(source: str, context: Mapping[str, Any], quarantine: Quarantine | None = None) -> str:
    quarantine = quarantine or _QUARANTINE
    if quarantine.is_quarantined(source):
        raise TemplateRenderError(
            f"template quarantined: it exceeded the render time budget ({RENDER_TIME_BUDGET_SECONDS:g} s CPU) "
            f"{quarantine.strikes_allowed} times")
    guard = watchdog()
    arm = None
    try:
        arm = guard.arm(RENDER_TIME_BUDGET_SECONDS, RENDER_WALL_LIMIT_SECONDS)
        try:
            return _render_guarded(source, context)
        finally:
            guard.disarm(arm)
    except RenderTimeout:
        guard.disarm(arm)
        quarantine.strike(source)
        raise TemplateRenderError(
            f"template exceeded the render time budget ({RENDER_TIME_BUDGET_SECONDS:g} s CPU): "
            "it loops too long or recurses too deep") from None
    except TemplateRenderError:
        raise
    except TemplateLimitError as exc:
        raise TemplateRenderError(f"template too expensive: {exc}") from exc
    except SecurityError as exc:
        raise TemplateRenderError(f"unsafe template: {exc}") from exc
    except TemplateError as exc:
        raise TemplateRenderError(f"{type(exc).__name__}: {exc}") from exc
    except RecursionError as exc:
        raise TemplateRenderError("template recursion too deep (a macro calling itself?)") from exc
    except MemoryError as exc:
        raise TemplateRenderError("template ran out of memory") from exc
    except Exception as exc:  # a filter or operation failing on the lead's data
        raise TemplateRenderError(f"{type(exc).__name__}: {exc}") from exc
