"""The Jinja environment templates render in: the immutable sandbox, strict about undefined names, with the
size budget applied to operators, calls, filters, ``~`` and ``str.format``."""

from __future__ import annotations

import functools
import re
import types
from typing import Any

from jinja2 import StrictUndefined
from jinja2.compiler import CodeGenerator
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from markupsafe import Markup

from include.campaigns.templates.filters import guard_filter
from include.campaigns.templates.limits import (
    MAX_NUMERIC_ARG, MAX_VALUE_SIZE, TemplateLimitError, check_numeric, check_power, check_printf, check_repeat,
    checked, guard_str_method, limit_error, safe_range,
)


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
            raise limit_error("formatting")
        return out


class _GuardedCodeGenerator(CodeGenerator):
    """``a ~ b`` goes through the environment, so its result is checked like any other value."""

    def visit_Concat(self, node, frame) -> None:
        self.write("environment.guarded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("), context.eval_ctx)")


_DICT_ATTRIBUTES = frozenset(dir(dict))


class GuardedEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _GuardedCodeGenerator

    def make_globals(self, d: dict[str, Any] | None) -> dict[str, Any]:
        """A template's globals as one plain dict (Jinja's is a ChainMap over the environment's, merged again into
        a new dict for every render): the environment's globals are set once, in ``__init__``, never after."""
        return {**self.globals, **(d or {})}

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``lead.first_name`` on the context's plain dicts: the key at once. The sandbox tries the attribute first
        and pays an AttributeError per lookup; a dict has no attributes but its class's, so the result is the same."""
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.globals["range"] = safe_range
        self.globals.pop("lipsum", None)  # generates arbitrary amounts of text; no use in a message
        self.filters = {name: guard_filter(name, f) for name, f in self.filters.items()}

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            check_repeat(left, right)
        elif operator == "**":
            check_power(left, right)
        elif operator == "%" and isinstance(left, str):
            check_printf(left, right)
        return checked(super().call_binop(context, operator, left, right))

    def call(__self, __context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - Jinja's convention
        if isinstance(__obj, (types.BuiltinMethodType, types.BuiltinFunctionType, types.MethodWrapperType)):
            check_numeric(args, kwargs)
            if isinstance(getattr(__obj, "__self__", None), (str, bytes)):
                args = guard_str_method(__obj, args, kwargs)
        return checked(super().call(__context, __obj, *args, **kwargs))

    def guarded_concat(self, parts: tuple, eval_ctx) -> str:
        join = markup_join if eval_ctx.autoescape or any(hasattr(p, "__html__") for p in parts) else str_join
        return checked(join(parts))

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
            return checked(type(f_self)(_BudgetFormatter(env).vformat(f_self, args, kwargs)))

        return functools.update_wrapper(wrapper, value)


ENVIRONMENT = GuardedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True)
