"""Message templates: Jinja in a sandbox, strict about undefined names, with a time and size budget.

Templates are written by broker admins, so they run in Jinja's immutable sandbox (no
attribute tricks into Python internals, no mutation of the context) and an undefined
variable is an error rather than a silent blank in a message sent to a client.

The sandbox alone does not stop a template that never ends or that builds a huge value
(nested ``range`` loops, ``'x' * 10**9``, ``10**10**10``, a macro that calls itself twice per
level...). One bad template must fail its own step, quickly and with a clear reason, and never
stall or kill the worker that executes a whole chunk of leads. So every render has:

* a **size budget**: every intermediate value built by an operator, a method call or a filter is
  checked (``MAX_VALUE_SIZE`` characters/items, ``MAX_INT_BITS`` for integers), and the
  operations that could allocate a lot in one C call are checked *before* they run (repetition
  ``*``, ``**``, ``%`` formatting, ``str.format`` fields, ``join``, ``replace``, ``indent``,
  ``wordwrap``, width arguments); ``range`` is capped at ``MAX_RANGE``; the output is streamed and
  stops at ``MAX_OUTPUT_CHARS``;
* a **time budget**: ``RENDER_TIME_BUDGET_SECONDS`` of CPU time of the rendering thread (so a
  busy machine does not turn a slow start into a failure), with a wall-clock backstop. A watchdog
  thread interrupts the render by raising an exception *in the rendering thread*
  (``PyThreadState_SetAsyncExc``): unlike ``signal.setitimer``/``SIGALRM``, which only reaches the
  main thread and would clobber the alarm Airflow uses for ``execution_timeout``, this works in
  any thread. Its limit: an exception can only be delivered between two Python bytecodes, so a
  single long C call cannot be interrupted -- which is what the size budget is for.
* a **quarantine**: a template (by source) that ran out of time ``STRIKES_BEFORE_QUARANTINE``
  times in this process fails at once for the remaining leads, so a hostile template costs a
  chunk about a second, not a second per lead.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import math
import os
import re
import threading
import time
import types
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.compiler import CodeGenerator
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter, SecurityError
from markupsafe import Markup

MAX_OUTPUT_CHARS = 20_000
MAX_VALUE_SIZE = 100_000  # characters of a string, items of a sequence, built while rendering
MAX_INT_BITS = 4_096
MAX_RANGE = 10_000
MAX_NUMERIC_ARG = 10_000  # width/count/length arguments of filters and built-in methods
RENDER_TIME_BUDGET_SECONDS = 0.5  # CPU seconds of the rendering thread, per render
RENDER_WALL_LIMIT_SECONDS = 5.0  # wall-clock backstop (a render that cannot get the CPU)
STRIKES_BEFORE_QUARANTINE = 2
_WATCHDOG_POLL_SECONDS = 0.02


class TemplateRenderError(Exception):
    """The template could not be rendered; the message says why, for the campaign log."""


class TemplateLimitError(SecurityError):
    """The template tried to build a value larger than the size budget allows."""


class _RenderTimeout(BaseException):
    """Raised asynchronously in a rendering thread that used up its time budget.

    A BaseException so that no ``except Exception`` inside Jinja or a filter swallows it.
    """


# -- size budget --------------------------------------------------------------------------------

def _limit(what: str) -> TemplateLimitError:
    return TemplateLimitError(f"{what} (size budget {MAX_VALUE_SIZE:,})")


def _checked(value: Any) -> Any:
    """Refuse a value over the size budget (it was built from values under it, so it is at most a
    small multiple of the budget: cheap to have built, refused before it can grow further)."""
    if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)):
        if len(value) > MAX_VALUE_SIZE:
            raise _limit(f"a {type(value).__name__} of {len(value):,} items/characters")
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise TemplateLimitError(f"an integer of {value.bit_length():,} bits (limit {MAX_INT_BITS:,})")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_numeric(args, kwargs) -> None:
    for value in (*args, *kwargs.values()):
        if _is_int(value) and abs(value) > MAX_NUMERIC_ARG:
            raise TemplateLimitError(f"numeric argument {value:,} is over the limit of {MAX_NUMERIC_ARG:,}")


def _size(value: Any) -> int:
    if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)):
        return len(value)
    return len(str(value))


def _check_repeat(left: Any, right: Any) -> None:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, (str, bytes, list, tuple)) and _is_int(times) and len(seq) * max(times, 0) > MAX_VALUE_SIZE:
            raise _limit(f"repeating {len(seq):,} items/characters {times:,} times")


def _check_power(base: Any, exponent: Any) -> None:
    if _is_int(base) and _is_int(exponent) and abs(base) > 1 and exponent > 0:
        if exponent * math.log2(abs(base)) > MAX_INT_BITS:
            raise TemplateLimitError(f"{base} ** {exponent} is over the integer limit of {MAX_INT_BITS:,} bits")


_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([diouxXeEfFgGcrsa%])")


def _check_printf(fmt: str, args: Any) -> None:
    """``fmt % args`` (and the ``format`` filter): widths and the size of the result, before formatting."""
    specs = _PRINTF_SPEC.findall(fmt)
    widths = 0
    for width, precision, _conv in specs:
        for n in (width, precision):
            if n == "*":
                raise TemplateLimitError("'*' widths are not allowed in % formatting")
            if n and int(n) > MAX_NUMERIC_ARG:
                raise TemplateLimitError(f"format width {int(n):,} is over the limit of {MAX_NUMERIC_ARG:,}")
        widths += int(width or 0)
    values = list(args.values()) if isinstance(args, Mapping) else list(args) if isinstance(args, tuple) else [args]
    biggest = max((_size(v) for v in values), default=0)
    if len(fmt) + widths + len(specs) * biggest > MAX_VALUE_SIZE:
        raise _limit(f"formatting {len(specs):,} fields of up to {biggest:,} characters")


def _safe_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise TemplateLimitError(f"range of {len(rng):,} items is over the limit of {MAX_RANGE:,}")
    return rng


def _join_estimate(sep: Any, items: list) -> int:
    return sum(_size(i) for i in items) + _size(sep) * max(len(items) - 1, 0)


def _guard_str_method(method: Any, args: tuple, kwargs: dict) -> tuple:
    """Pre-checks for the built-in string methods that can build a large value from small inputs."""
    owner, name = method.__self__, method.__name__
    if name == "join" and args:
        items = list(args[0])
        if len(items) > MAX_VALUE_SIZE or _join_estimate(owner, items) > MAX_VALUE_SIZE:
            raise _limit(f"joining {len(items):,} items")
        return (items, *args[1:])
    if name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        if isinstance(old, (str, bytes)) and isinstance(new, (str, bytes)):
            hits = owner.count(old) if old else len(owner) + 1
            if len(args) > 2 and _is_int(args[2]) and args[2] >= 0:
                hits = min(hits, args[2])
            if len(owner) + hits * (len(new) - len(old)) > MAX_VALUE_SIZE:
                raise _limit(f"replacing {hits:,} occurrences")
    if name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if _is_int(size) and len(owner) + owner.count("\t" if isinstance(owner, str) else b"\t") * size > MAX_VALUE_SIZE:
            raise _limit("expanding tabs")
    return args


# -- filters: the same budget, checked before and after ------------------------------------------

def _arg(args: tuple, kwargs: dict, pos: int, name: str, default: Any = None) -> Any:
    return args[pos] if len(args) > pos else kwargs.get(name, default)


def _pre_join(args, kwargs):
    value, rest = args[0], args[1:]
    items = list(value)
    sep = _arg(rest, kwargs, 0, "d", "")
    if len(items) > MAX_VALUE_SIZE or _join_estimate(sep, items) > MAX_VALUE_SIZE:
        raise _limit(f"joining {len(items):,} items")
    return (items, *rest), kwargs


def _pre_replace(args, kwargs):
    s, old, new = str(args[0]), _arg(args, kwargs, 1, "old", ""), _arg(args, kwargs, 2, "new", "")
    count = _arg(args, kwargs, 3, "count")
    hits = s.count(str(old)) if old else len(s) + 1
    if _is_int(count) and count >= 0:
        hits = min(hits, count)
    if len(s) + hits * (len(str(new)) - len(str(old))) > MAX_VALUE_SIZE:
        raise _limit(f"replacing {hits:,} occurrences")
    return args, kwargs


def _pre_format(args, kwargs):
    _check_printf(str(args[0]), kwargs or tuple(args[1:]))
    return args, kwargs


def _pre_indent(args, kwargs):
    s, width = str(args[0]), _arg(args, kwargs, 1, "width", 4)
    per_line = width if _is_int(width) else len(str(width))
    if len(s) + (s.count("\n") + 1) * per_line > MAX_VALUE_SIZE:
        raise _limit("indenting")
    return args, kwargs


def _pre_wordwrap(args, kwargs):
    s, width = str(args[0]), _arg(args, kwargs, 1, "width", 79)
    wrap = _arg(args, kwargs, 3, "wrapstring")
    if wrap is not None and _is_int(width) and width > 0:
        if len(s) + (len(s) // width + 1) * len(str(wrap)) > MAX_VALUE_SIZE:
            raise _limit("wrapping")
    return args, kwargs


def _pre_tojson(args, kwargs):
    indent = _arg(args, kwargs, 1, "indent")
    if indent is not None and (_size(indent) if not _is_int(indent) else indent) > 8:
        raise TemplateLimitError("tojson indent over 8")
    return args, kwargs


def _pre_sum(args, kwargs):
    start = _arg(args, kwargs, 2, "start", 0)
    if not isinstance(start, (int, float)):
        raise TemplateLimitError("sum() adds numbers only")
    return args, kwargs


_FILTER_PRECHECKS: dict[str, Callable] = {
    "join": _pre_join, "replace": _pre_replace, "format": _pre_format, "indent": _pre_indent,
    "wordwrap": _pre_wordwrap, "tojson": _pre_tojson, "sum": _pre_sum,
}
_NUMERIC_CAPPED_FILTERS = frozenset({"center", "indent", "truncate", "wordwrap", "batch", "slice", "round", "tojson"})


def _guard_filter(name: str, func: Callable) -> Callable:
    pre = _FILTER_PRECHECKS.get(name)
    capped = name in _NUMERIC_CAPPED_FILTERS
    passes = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        head, rest = args[:passes], args[passes:]
        if capped:
            _check_numeric(rest[1:], kwargs)
        if pre is not None and rest:
            rest, kwargs = pre(rest, kwargs)
        return _checked(func(*head, *rest, **kwargs))

    return guarded


# -- the environment ------------------------------------------------------------------------------

class _BudgetFormatter(SandboxedFormatter):
    """``str.format`` in the sandbox, counting the characters it produces as it goes."""

    def __init__(self, env, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self._produced = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        for n in re.findall(r"\d+", format_spec):
            if int(n) > MAX_NUMERIC_ARG:
                raise TemplateLimitError(f"format width {int(n):,} is over the limit of {MAX_NUMERIC_ARG:,}")
        out = super().format_field(value, format_spec)
        self._produced += len(out)
        if self._produced > MAX_VALUE_SIZE:
            raise _limit("formatting")
        return out


class _GuardedCodeGenerator(CodeGenerator):
    """``a ~ b`` goes through the environment, so its result is checked like any other value."""

    def visit_Concat(self, node, frame) -> None:
        self.write("environment.guarded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("), context.eval_ctx)")


class _GuardedEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _GuardedCodeGenerator

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.globals["range"] = _safe_range
        self.globals.pop("lipsum", None)  # generates arbitrary amounts of text; no use in a message
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            _check_repeat(left, right)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "%" and isinstance(left, str):
            _check_printf(left, right)
        return _checked(super().call_binop(context, operator, left, right))

    def call(__self, __context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - Jinja's convention
        if isinstance(__obj, (types.BuiltinMethodType, types.BuiltinFunctionType, types.MethodWrapperType)):
            _check_numeric(args, kwargs)
            if isinstance(getattr(__obj, "__self__", None), (str, bytes)):
                args = _guard_str_method(__obj, args, kwargs)
        return _checked(super().call(__context, __obj, *args, **kwargs))

    def guarded_concat(self, parts: tuple, eval_ctx) -> str:
        join = markup_join if eval_ctx.autoescape or any(hasattr(p, "__html__") for p in parts) else str_join
        return _checked(join(parts))

    def wrap_str_format(self, value: Any):
        if not isinstance(value, (types.MethodType, types.BuiltinMethodType)) or value.__name__ not in (
            "format", "format_map",
        ):
            return None
        f_self = value.__self__
        if not isinstance(f_self, str):
            return None
        if isinstance(f_self, Markup):
            return super().wrap_str_format(value)  # autoescape is off: templates never build Markup
        is_format_map = value.__name__ == "format_map"
        env = self

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs, args = args[0], ()
            return _checked(type(f_self)(_BudgetFormatter(env).vformat(f_self, args, kwargs)))

        return functools.update_wrapper(wrapper, value)


_ENV = _GuardedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True)


# -- time budget: a watchdog that interrupts the rendering thread ---------------------------------

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
                        _set_async_exc(arm.thread_id, id(_RenderTimeout))
            time.sleep(_WATCHDOG_POLL_SECONDS)


_WATCHDOG = _Watchdog()
_STRIKES: dict[str, int] = {}
_STRIKES_LOCK = threading.Lock()


def _reset_after_fork() -> None:  # the watchdog thread does not survive a fork; start afresh in the child
    global _WATCHDOG, _STRIKES_LOCK
    _WATCHDOG = _Watchdog()
    _STRIKES_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _source_key(source: str) -> str:
    return hashlib.sha1(source.encode("utf-8", "surrogatepass")).hexdigest()


@functools.lru_cache(maxsize=1024)
def _compile(source: str):
    return _ENV.from_string(source)


def _render_guarded(source: str, context: Mapping[str, Any]) -> str:
    parts: list[str] = []
    size = 0
    for piece in _compile(source).generate(**context):
        size += len(piece)
        if size > MAX_OUTPUT_CHARS:
            raise TemplateRenderError(f"rendered message longer than {MAX_OUTPUT_CHARS} characters")
        parts.append(piece)
    return "".join(parts)


def render(source: str, context: Mapping[str, Any]) -> str:
    key = _source_key(source)
    if _STRIKES.get(key, 0) >= STRIKES_BEFORE_QUARANTINE:
        raise TemplateRenderError(
            f"template quarantined: it exceeded the render time budget ({RENDER_TIME_BUDGET_SECONDS:g} s CPU) "
            f"{STRIKES_BEFORE_QUARANTINE} times"
        )
    arm = None
    try:
        arm = _WATCHDOG.arm(RENDER_TIME_BUDGET_SECONDS, RENDER_WALL_LIMIT_SECONDS)
        try:
            return _render_guarded(source, context)
        finally:
            _WATCHDOG.disarm(arm)
    except _RenderTimeout:
        _WATCHDOG.disarm(arm)
        with _STRIKES_LOCK:
            _STRIKES[key] = _STRIKES.get(key, 0) + 1
        raise TemplateRenderError(
            f"template exceeded the render time budget ({RENDER_TIME_BUDGET_SECONDS:g} s CPU): "
            "it loops too long or recurses too deep"
        ) from None
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


def template_context(
    lead: Mapping[str, Any],
    campaign: Mapping[str, Any],
    agent: Mapping[str, Any] | None,
    broker: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The names a template may use: lead, campaign, agent and broker fields."""
    full_name = lead.get("full_name") or ""
    return {
        "lead": {
            "id": lead.get("id"),
            "full_name": full_name,
            "first_name": full_name.split(" ")[0] if full_name else "",
            "email": lead.get("email"),
            "phone": lead.get("phone"),
            "stage": lead.get("stage"),
            "score": lead.get("score"),
        },
        "campaign": {"id": campaign.get("id"), "name": campaign.get("name"), "channel": campaign.get("channel")},
        "agent": {
            "full_name": (agent or {}).get("full_name") or "",
            "email": (agent or {}).get("email") or "",
            "phone": (agent or {}).get("phone") or "",
        },
        "broker": {"id": (broker or {}).get("id"), "name": (broker or {}).get("name") or ""},
    }
