"""What every body shares: strict and closed requests, errors that name their exact field, JSON safety.

Every request body is strict (no type coercion: ``"70"`` is not an integer, ``true`` is not a number) and
closed (unknown fields are errors), so a typo is a 422 naming the field instead of a silently ignored key.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

BIGINT_MAX = 2**63 - 1
INT_MAX = 2**31 - 1


def field_error(field: str, message: str) -> PydanticCustomError:
    """A validation error that names its exact field (the 422 handler reads ``ctx.field``)."""
    return PydanticCustomError("invalid_field", "{field}: {message}", {"field": field, "message": message})


def check_json_safe(value: Any, path: str) -> None:
    """Refuse what PostgreSQL cannot store in text/jsonb: NUL, lone surrogates, NaN/Infinity."""
    if isinstance(value, str):
        if "\x00" in value:
            raise field_error(path, "must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise field_error(path, "must be valid Unicode (no lone surrogates)") from None
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise field_error(path, "must be a finite number")
    elif isinstance(value, dict):
        for k, v in value.items():
            check_json_safe(k, path)
            check_json_safe(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_json_safe(v, f"{path}[{i}]")


def nested_error(exc: ValidationError, root: str, expects: str) -> PydanticCustomError:
    """A nested model's validation errors as one error on the first offending field under ``root``."""
    errors = exc.errors()
    loc = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
    parts = []
    for i, err in enumerate(errors):  # the first without its path: the error's field names it
        where = ".".join(str(p) for p in err["loc"])
        parts.append(err["msg"] if i == 0 else f"{root}.{where}: {err['msg']}" if where else f"{root}: {err['msg']}")
    return field_error(f"{root}.{loc}" if loc else root, f"{'; '.join(parts)} ({expects})")


class RequestBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class ResponseBody(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorOut(BaseModel):
    detail: str


class FieldErrorOut(BaseModel):
    field: str = Field(description="Dotted path of the offending value, e.g. trigger_config.threshold.")
    message: str
    type: str


class ValidationErrorOut(BaseModel):
    detail: str = Field(description="All the problems in one sentence.")
    errors: list[FieldErrorOut]
