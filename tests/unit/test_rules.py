"""The trigger rulesets, one event per (lead, campaign) pair, with boundary values."""

from __future__ import annotations

import random

import pytest

from include.campaigns.triggers import TriggerDefinition
from rules.campaign_triggers import evaluate, ruleset_name

SCORE = TriggerDefinition(1, 10, "LEAD_SCORE", {"threshold": 70})
STAGE = TriggerDefinition(2, 10, "STAGE_CHANGE", {"to_stage": "qualified"})
INACTIVE = TriggerDefinition(3, 10, "INACTIVITY", {"days": 14})
MANUAL = TriggerDefinition(4, 10, "MANUAL", {})
ALL = [SCORE, STAGE, INACTIVE, MANUAL]


def event(lead_id, campaign, *, score=50, stage="new", stage_changed=False, days_inactive=None, mode="sweep",
          broker_id=None):
    return {"lead_id": lead_id, "campaign_id": campaign.campaign_id,
            "broker_id": campaign.broker_id if broker_id is None else broker_id, "score": score, "stage": stage,
            "stage_changed": stage_changed, "days_inactive": days_inactive, "mode": mode}


@pytest.mark.parametrize("score, fires", [(69, False), (70, False), (71, True), (100, True), (None, False)])
def test_lead_score_is_strictly_greater_than_threshold(score, fires):
    assert evaluate(ALL, [event(1, SCORE, score=score)]) == ([(1, 1)] if fires else [])


@pytest.mark.parametrize("stage, changed, mode, fires", [
    ("qualified", True, "sweep", True),
    ("qualified", False, "sweep", False),   # no change since the previous snapshot
    ("contacted", True, "sweep", False),    # changed, but to another stage
    ("qualified", False, "apply", True),    # an admin's apply: being in the stage is enough
    ("contacted", False, "apply", False),
])
def test_stage_change(stage, changed, mode, fires):
    assert evaluate(ALL, [event(7, STAGE, stage=stage, stage_changed=changed, mode=mode)]) == ([(2, 7)] if fires else [])


@pytest.mark.parametrize("days, fires", [(13.999, False), (14.0, True), (30, True), (None, False)])
def test_inactivity_is_at_least_days(days, fires):
    assert evaluate(ALL, [event(3, INACTIVE, days_inactive=days)]) == ([(3, 3)] if fires else [])


def test_manual_fires_only_on_apply():
    assert evaluate(ALL, [event(5, MANUAL, mode="sweep")]) == []
    assert evaluate(ALL, [event(5, MANUAL, mode="apply")]) == [(4, 5)]


def test_a_rule_never_matches_another_brokers_pair():
    assert evaluate(ALL, [event(1, SCORE, score=99, broker_id=11)]) == []


def test_one_lead_matching_two_campaigns_matches_both():
    events = [event(9, SCORE, score=90), event(9, INACTIVE, days_inactive=40)]
    assert sorted(evaluate(ALL, events)) == [(1, 9), (3, 9)]


def test_no_definitions_no_matches():
    assert evaluate([], [event(1, SCORE, score=99)]) == []


def test_ruleset_name_changes_with_the_definitions():
    changed = TriggerDefinition(1, 10, "LEAD_SCORE", {"threshold": 80})
    assert ruleset_name(ALL) == ruleset_name(list(ALL))
    assert ruleset_name(ALL) != ruleset_name([changed, STAGE, INACTIVE, MANUAL])


def test_many_events_agree_with_a_plain_reference():
    """The catch-all rule must never take an event a campaign rule wants (durable-rules gives an
    event to one rule only); checked against a plain Python evaluation of 20,000 random pairs."""
    rng = random.Random(6)
    defs = [TriggerDefinition(c, 10 + c % 3, "LEAD_SCORE", {"threshold": rng.randint(0, 100)}) for c in range(1, 21)]
    defs += [TriggerDefinition(c, 10 + c % 3, "INACTIVITY", {"days": rng.randint(1, 60)}) for c in range(21, 31)]
    events, expected = [], set()
    for lead in range(20_000):
        d = rng.choice(defs)
        e = event(lead, d, score=rng.choice([None, *range(0, 101)]),
                  days_inactive=rng.choice([None, rng.uniform(0, 90)]))
        events.append(e)
        if d.trigger_type == "LEAD_SCORE" and e["score"] is not None and e["score"] > d.config["threshold"]:
            expected.add((d.campaign_id, lead))
        if d.trigger_type == "INACTIVITY" and e["days_inactive"] is not None and e["days_inactive"] >= d.config["days"]:
            expected.add((d.campaign_id, lead))
    found = evaluate(defs, events)
    assert len(found) == len(set(found))
    assert set(found) == expected
    assert len(expected) > 5_000
