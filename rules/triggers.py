"""Trigger rulesets: one durable-rules rule per ACTIVE campaign, built from its row.

An event is one (lead, candidate campaign) pair. durable-rules hands each event to one
rule only, so events are per pair rather than per lead: a lead that satisfies two
campaigns yields two events and two matches. The catch-all rule, declared last so that it
only takes what no campaign rule wants, keeps unmatched events from raising
``MessageNotHandledException``. Rules only record a decision; they do no I/O.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from durable.lang import m, post, ruleset, when_all


@dataclass(frozen=True)
class TriggerDefinition:
    campaign_id: int
    broker_id: int
    trigger_type: str
    config: Mapping[str, Any]


_matches: dict[str, list[tuple[int, int]]] = {}
_batches = itertools.count()


def ruleset_name(definitions: Sequence[TriggerDefinition]) -> str:
    """A name per distinct set of definitions: durable-rules cannot register a name twice."""
    canonical = json.dumps(
        [[d.campaign_id, d.broker_id, d.trigger_type, dict(d.config)] for d in definitions],
        sort_keys=True,
        default=str,
    )
    return "campaign_triggers_" + hashlib.sha1(canonical.encode()).hexdigest()[:16]


def _condition(d: TriggerDefinition):
    same_pair = (m.campaign_id == d.campaign_id) & (m.broker_id == d.broker_id)
    cfg = d.config
    if d.trigger_type == "LEAD_SCORE":
        return same_pair & (m.score > float(cfg["threshold"]))
    if d.trigger_type == "STAGE_CHANGE":
        # A sweep needs a change into the stage; an admin's apply only needs the lead to be in it.
        return same_pair & (m.stage == str(cfg["to_stage"])) & ((m.stage_changed == True) | (m.mode == "apply"))  # noqa: E712
    if d.trigger_type == "INACTIVITY":
        return same_pair & (m.days_inactive >= float(cfg["days"]))
    if d.trigger_type == "MANUAL":
        return same_pair & (m.mode == "apply")
    raise ValueError(f"campaign {d.campaign_id}: unknown trigger_type {d.trigger_type!r}")


def _record(name: str):
    def matched(c) -> None:
        _matches[name].append((int(c.m.campaign_id), int(c.m.lead_id)))

    return matched


def build_trigger_ruleset(definitions: Sequence[TriggerDefinition]) -> str:
    """Register (once per process) the ruleset for these campaigns and return its name."""
    name = ruleset_name(definitions)
    if name in _matches:
        return name
    _matches[name] = []
    with ruleset(name):
        for d in definitions:
            when_all(_condition(d))(_record(name))

        @when_all(+m.lead_id)
        def no_campaign_matches(c) -> None:
            """Declared last: takes only the events no campaign rule took."""

    return name


def evaluate(definitions: Sequence[TriggerDefinition], events: Iterable[Mapping[str, Any]]) -> list[tuple[int, int]]:
    """Post every event (one by one: ``post_batch`` loses matches) and return (campaign_id, lead_id) matches.

    Each event carries ``lead_id``, ``campaign_id``, ``broker_id``, ``score``, ``stage``,
    ``stage_changed``, ``days_inactive`` and ``mode`` (``sweep`` or ``apply``).
    """
    if not definitions:
        return []
    name = build_trigger_ruleset(definitions)
    sink = _matches[name]
    sink.clear()
    sid = f"batch-{next(_batches)}"
    for event in events:
        post(name, {**event, "sid": sid})
    found = list(sink)
    sink.clear()
    return found
