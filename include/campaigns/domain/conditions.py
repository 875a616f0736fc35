"""Step conditions: a small, validated language kept as JSON in ``campaign_steps.conditions``.

Format: ``{field: {op: value, ...}, ...}``; every test must hold (AND). ``{}`` always holds.
Example: ``{"score": {"gte": 60}, "stage": {"in": ["new", "contacted"]}, "has_email": {"eq": true}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

FIELDS: dict[str, type | tuple[type, ...]] = {
    "score": (int, float),
    "stage": str,
    "days_inactive": (int, float),
    "has_email": bool,
    "has_phone": bool,
    "has_agent": bool,
}
COMPARISONS = {"eq", "ne", "gt", "gte", "lt", "lte"}
MEMBERSHIP = {"in", "not_in"}
ORDERED = {"gt", "gte", "lt", "lte"}


class ConditionError(ValueError):
    """A conditions document that does not follow the schema."""


def validate_conditions(conditions: Any) -> dict:
    """Return the conditions if they follow the schema, else raise ConditionError naming the problem."""
    if not isinstance(conditions, Mapping):
        raise ConditionError("conditions must be an object")
    for field, tests in conditions.items():
        if field not in FIELDS:
            raise ConditionError(f"conditions.{field}: unknown field (allowed: {', '.join(sorted(FIELDS))})")
        if not isinstance(tests, Mapping) or not tests:
            raise ConditionError(f"conditions.{field}: must be a non-empty object of operators")
        expected = FIELDS[field]
        for op, value in tests.items():
            where = f"conditions.{field}.{op}"
            if op in MEMBERSHIP:
                if not isinstance(value, list) or not value:
                    raise ConditionError(f"{where}: must be a non-empty list")
                values = value
            elif op in COMPARISONS:
                if op in ORDERED and expected is bool:
                    raise ConditionError(f"{where}: {field} is a boolean, use eq or ne")
                values = [value]
            else:
                raise ConditionError(f"{where}: unknown operator (allowed: {', '.join(sorted(COMPARISONS | MEMBERSHIP))})")
            for v in values:
                if isinstance(v, bool) and expected is not bool:
                    raise ConditionError(f"{where}: expected {_type_name(expected)}, got a boolean")
                if not isinstance(v, expected):
                    raise ConditionError(f"{where}: expected {_type_name(expected)}, got {type(v).__name__}")
    return dict(conditions)


def _type_name(t: type | tuple[type, ...]) -> str:
    return "number" if isinstance(t, tuple) else {str: "string", bool: "boolean"}[t]


def stages_named(conditions: Mapping[str, Mapping[str, Any]]) -> list[Any]:
    """The stages a conditions document names (they must be stages of the broker's pipeline)."""
    named: list[Any] = []
    for value in (conditions.get("stage") or {}).values():
        named += value if isinstance(value, list) else [value]
    return named


def lead_facts(lead: Mapping[str, Any], run_at: datetime) -> dict[str, Any]:
    """The values conditions can test, derived from a lead row at the run time."""
    last = lead.get("last_activity_at")
    return {
        "score": lead.get("score"),
        "stage": lead.get("stage"),
        "days_inactive": (run_at - last).total_seconds() / 86400 if last is not None else None,
        "has_email": bool(lead.get("email")),
        "has_phone": bool(lead.get("phone")),
        "has_agent": lead.get("assigned_agent_id") is not None,
    }


def conditions_met(conditions: Mapping[str, Mapping[str, Any]], facts: Mapping[str, Any]) -> bool:
    """True when every test holds; a test on a missing (None) value does not hold."""
    for field, tests in conditions.items():
        actual = facts.get(field)
        for op, expected in tests.items():
            if not _holds(op, actual, expected):
                return False
    return True


def _holds(op: str, actual: Any, expected: Any) -> bool:
    if actual is None:
        return op in ("ne", "not_in") and expected is not None
    if op == "eq":
        return actual == expected
    if op == "ne":
        return actual != expected
    if op == "in":
        return actual in expected
    if op == "not_in":
        return actual not in expected
    if op == "gt":
        return actual > expected
    if op == "gte":
        return actual >= expected
    if op == "lt":
        return actual < expected
    return actual <= expected  # lte
