"""The trigger types: one module each, registered here. Adding a trigger type = adding its module to ``MODULES``.

Everything else -- the admin API's validation and docs, the durable-rules rulesets, the SQL pre-filter of
the rules' input, the sweep's staging windows -- is built from the registry.
"""

from __future__ import annotations

from include.campaigns.infra.database import sql_list
from include.campaigns.triggers import inactivity, lead_score, manual, stage_change
from include.campaigns.triggers.base import EVENT_FIELDS, TriggerConfig, TriggerDefinition, TriggerType

MODULES = (lead_score, stage_change, inactivity, manual)
REGISTRY: dict[str, TriggerType] = {m.TRIGGER.name: m.TRIGGER for m in MODULES}
TRIGGER_TYPES = tuple(REGISTRY)
AUTOMATIC = tuple(name for name, t in REGISTRY.items() if t.automatic)


class UnknownTriggerType(ValueError):
    """A campaign names a trigger type no module defines."""


def get(name: str) -> TriggerType:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownTriggerType(f"unknown trigger_type {name!r} (known: {', '.join(TRIGGER_TYPES)})") from None


def prefilter_sql() -> str:
    """One SQL condition over ``r`` and ``c``: each campaign's own pre-filter, by its trigger type."""
    cases = " ".join(f"WHEN {sql_list([n])} THEN ({t.prefilter_sql})" for n, t in REGISTRY.items())
    return f"CASE c.trigger_type {cases} ELSE false END"


def activity_window_sql() -> tuple[str, str]:
    """``(after, upto)`` SQL over ``c``: each trigger type's staging window, null where it has none."""
    windowed = [(n, t.activity_window) for n, t in REGISTRY.items() if t.activity_window]
    after = " ".join(f"WHEN {sql_list([n])} THEN {w[0]}" for n, w in windowed)
    upto = " ".join(f"WHEN {sql_list([n])} THEN {w[1]}" for n, w in windowed)
    return (f"CASE c.trigger_type {after} END", f"CASE c.trigger_type {upto} END") if windowed else ("NULL", "NULL")


def automatic_sql() -> str:
    """SQL list of the automatic trigger types, for ``IN (...)``."""
    return sql_list(AUTOMATIC)


__all__ = ["AUTOMATIC", "EVENT_FIELDS", "REGISTRY", "TRIGGER_TYPES", "TriggerConfig", "TriggerDefinition", "TriggerType",
           "UnknownTriggerType", "activity_window_sql", "automatic_sql", "get", "prefilter_sql"]
