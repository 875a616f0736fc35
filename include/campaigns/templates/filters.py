"""Jinja's filters with the size budget: checked before they run (where one C call could build a lot) and after."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from include.campaigns.templates.limits import (
    MAX_VALUE_SIZE, TemplateLimitError, check_numeric, check_printf, checked, is_int, join_estimate, limit_error,
    size_of,
)


def _arg(args: tuple, kwargs: dict, pos: int, name: str, default: Any = None) -> Any:
    return args[pos] if len(args) > pos else kwargs.get(name, default)


def _pre_join(args, kwargs):
    value, rest = args[0], args[1:]
    items = list(value)
    sep = _arg(rest, kwargs, 0, "d", "")
    if len(items) > MAX_VALUE_SIZE or join_estimate(sep, items) > MAX_VALUE_SIZE:
        raise limit_error(f"joining {len(items):,} items")
    return (items, *rest), kwargs


def _pre_replace(args, kwargs):
    s, old, new = str(args[0]), _arg(args, kwargs, 1, "old", ""), _arg(args, kwargs, 2, "new", "")
    count = _arg(args, kwargs, 3, "count")
    hits = s.count(str(old)) if old else len(s) + 1
    if is_int(count) and count >= 0:
        hits = min(hits, count)
    if len(s) + hits * (len(str(new)) - len(str(old))) > MAX_VALUE_SIZE:
        raise limit_error(f"replacing {hits:,} occurrences")
    return args, kwargs


def _pre_format(args, kwargs):
    check_printf(str(args[0]), kwargs or tuple(args[1:]))
    return args, kwargs


def _pre_indent(args, kwargs):
    s, width = str(args[0]), _arg(args, kwargs, 1, "width", 4)
    per_line = width if is_int(width) else len(str(width))
    if len(s) + (s.count("\n") + 1) * per_line > MAX_VALUE_SIZE:
        raise limit_error("indenting")
    return args, kwargs


def _pre_wordwrap(args, kwargs):
    s, width = str(args[0]), _arg(args, kwargs, 1, "width", 79)
    wrap = _arg(args, kwargs, 3, "wrapstring")
    if wrap is not None and is_int(width) and width > 0:
        if len(s) + (len(s) // width + 1) * len(str(wrap)) > MAX_VALUE_SIZE:
            raise limit_error("wrapping")
    return args, kwargs


def _pre_tojson(args, kwargs):
    indent = _arg(args, kwargs, 1, "indent")
    if indent is not None and (size_of(indent) if not is_int(indent) else indent) > 8:
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


def guard_filter(name: str, func: Callable) -> Callable:
    pre = _FILTER_PRECHECKS.get(name)
    capped = name in _NUMERIC_CAPPED_FILTERS
    passes = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        head, rest = args[:passes], args[passes:]
        if capped:
            check_numeric(rest[1:], kwargs)
        if pre is not None and rest:
            rest, kwargs = pre(rest, kwargs)
        return checked(func(*head, *rest, **kwargs))

    return guarded

