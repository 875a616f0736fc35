"""The size budget of a render: every value a template builds is checked, and the operations that could
allocate a lot in one C call are checked before they run (repetition ``*``, ``**``, ``%`` formatting,
``str.format`` fields, ``join``, ``replace``, ``expandtabs``, width arguments); ``range`` is capped."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from jinja2.sandbox import SecurityError

MAX_OUTPUT_CHARS = 20_000
MAX_VALUE_SIZE = 100_000  # characters of a string, items of a sequence, built while rendering
MAX_INT_BITS = 4_096
MAX_RANGE = 10_000
MAX_NUMERIC_ARG = 10_000  # width/count/length arguments of filters and built-in methods


class TemplateLimitError(SecurityError):
    """The template tried to build a value larger than the size budget allows."""


def limit_error(what: str) -> TemplateLimitError:
    return TemplateLimitError(f"{what} (size budget {MAX_VALUE_SIZE:,})")


def checked(value: Any) -> Any:
    """Refuse a value over the size budget (it was built from values under it, so it is at most a
    small multiple of the budget: cheap to have built, refused before it can grow further)."""
    if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)):
        if len(value) > MAX_VALUE_SIZE:
            raise limit_error(f"a {type(value).__name__} of {len(value):,} items/characters")
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise TemplateLimitError(f"an integer of {value.bit_length():,} bits (limit {MAX_INT_BITS:,})")
    return value


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_numeric(args, kwargs) -> None:
    for value in (*args, *kwargs.values()):
        if is_int(value) and abs(value) > MAX_NUMERIC_ARG:
            raise TemplateLimitError(f"numeric argument {value:,} is over the limit of {MAX_NUMERIC_ARG:,}")


def size_of(value: Any) -> int:
    if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)):
        return len(value)
    return len(str(value))


def check_repeat(left: Any, right: Any) -> None:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, (str, bytes, list, tuple)) and is_int(times) and len(seq) * max(times, 0) > MAX_VALUE_SIZE:
            raise limit_error(f"repeating {len(seq):,} items/characters {times:,} times")


def check_power(base: Any, exponent: Any) -> None:
    if is_int(base) and is_int(exponent) and abs(base) > 1 and exponent > 0:
        if exponent * math.log2(abs(base)) > MAX_INT_BITS:
            raise TemplateLimitError(f"{base} ** {exponent} is over the integer limit of {MAX_INT_BITS:,} bits")


_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([diouxXeEfFgGcrsa%])")


def check_printf(fmt: str, args: Any) -> None:
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
    biggest = max((size_of(v) for v in values), default=0)
    if len(fmt) + widths + len(specs) * biggest > MAX_VALUE_SIZE:
        raise limit_error(f"formatting {len(specs):,} fields of up to {biggest:,} characters")


def safe_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise TemplateLimitError(f"range of {len(rng):,} items is over the limit of {MAX_RANGE:,}")
    return rng


def join_estimate(sep: Any, items: list) -> int:
    return sum(size_of(i) for i in items) + size_of(sep) * max(len(items) - 1, 0)


def guard_str_method(method: Any, args: tuple, kwargs: dict) -> tuple:
    """Pre-checks for the built-in string methods that can build a large value from small inputs."""
    owner, name = method.__self__, method.__name__
    if name == "join" and args:
        items = list(args[0])
        if len(items) > MAX_VALUE_SIZE or join_estimate(owner, items) > MAX_VALUE_SIZE:
            raise limit_error(f"joining {len(items):,} items")
        return (items, *args[1:])
    if name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        if isinstance(old, (str, bytes)) and isinstance(new, (str, bytes)):
            hits = owner.count(old) if old else len(owner) + 1
            if len(args) > 2 and is_int(args[2]) and args[2] >= 0:
                hits = min(hits, args[2])
            if len(owner) + hits * (len(new) - len(old)) > MAX_VALUE_SIZE:
                raise limit_error(f"replacing {hits:,} occurrences")
    if name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if is_int(size) and len(owner) + owner.count("\t" if isinstance(owner, str) else b"\t") * size > MAX_VALUE_SIZE:
            raise limit_error("expanding tabs")
    return args

