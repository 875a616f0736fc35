"""The trigger ruleset: one durable-rules rule per ACTIVE campaign, built from its row.

An event is one (lead, candidate campaign) pair. durable-rules hands each event to one rule only, so
events are per pair rather than per lead: a lead that satisfies two campaigns yields two events and two
matches. Each rule is the campaign's own pair check and its trigger type's condition
(``include/campaigns/triggers/``). The catch-all rule, declared last so that it only takes what no
campaign rule wants, keeps unmatched events from raising ``MessageNotHandledException``. Rules only
record a decision; they do no I/O.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from durable.lang import m, post, ruleset, when_all

from include.campaigns import triggers
from include.campaigns.triggers import TriggerDefinition

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


def condition(d: TriggerDefinition):
    """The campaign's rule: its own (campaign, broker) pair, and its trigger type's condition."""
    same_pair = (m.campaign_id == d.campaign_id) & (m.broker_id == d.broker_id)
    return same_pair & triggers.get(d.trigger_type).rule(m, d.config)


def _record(name: str):
    def matched(c) -> None:
        _matches[name].append((int(c.m.campaign_id), int(c.m.lead_id)))

    return matched


def build_trigger_ruleset(definitions: Sequence[TriggerDefinition]) -> str:
    """Register (once per process) the ruleset for these campaigns and return its name."""
    name = ruleset_name(definitions)
    if name in _matches:
        return name
    conditions = [condition(d) for d in definitions]  # an unknown trigger type fails before registering
    _matches[name] = []
    with ruleset(name):
        for cond in conditions:
            when_all(cond)(_record(name))

        @when_all(+m.lead_id)
        def no_campaign_matches(c) -> None:
            """Declared last: takes only the events no campaign rule took."""

    return name


def evaluate(definitions: Sequence[TriggerDefinition], events: Iterable[Mapping[str, Any]]) -> list[tuple[int, int]]:
    """Post every event (one by one: ``post_batch`` loses matches) and return (campaign_id, lead_id) matches.

    Each event carries ``triggers.EVENT_FIELDS`` and ``mode`` (``sweep`` or ``apply``).
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
