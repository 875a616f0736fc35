import pytest

from include.campaigns.domain.conditions import ConditionError, conditions_met, lead_facts, validate_conditions
from tests.factories import T0, hours

LEAD = {"score": 65, "stage": "contacted", "email": "a@b.co", "phone": None, "assigned_agent_id": 3,
        "last_activity_at": hours(-24 * 10)}


@pytest.mark.parametrize("conditions, met", [
    ({}, True),
    ({"score": {"gte": 65}}, True),
    ({"score": {"gt": 65}}, False),
    ({"score": {"gte": 60, "lt": 70}}, True),
    ({"stage": {"in": ["new", "contacted"]}}, True),
    ({"stage": {"not_in": ["contacted"]}}, False),
    ({"has_email": {"eq": True}, "has_phone": {"eq": False}}, True),
    ({"has_agent": {"eq": False}}, False),
    ({"days_inactive": {"gte": 10}}, True),
    ({"days_inactive": {"gt": 10}}, False),
])
def test_conditions_on_lead_facts(conditions, met):
    assert conditions_met(validate_conditions(conditions), lead_facts(LEAD, T0)) is met


def test_a_test_on_a_missing_value_does_not_hold():
    facts = lead_facts({**LEAD, "score": None, "last_activity_at": None}, T0)
    assert not conditions_met({"score": {"gte": 0}}, facts)
    assert not conditions_met({"days_inactive": {"gte": 0}}, facts)
    assert conditions_met({"score": {"ne": 5}}, facts)


@pytest.mark.parametrize("bad, message", [
    ([], "must be an object"),
    ({"budget": {"gt": 1}}, "conditions.budget: unknown field"),
    ({"score": {}}, "conditions.score: must be a non-empty object"),
    ({"score": {"between": 1}}, "conditions.score.between: unknown operator"),
    ({"score": {"gt": "high"}}, "conditions.score.gt: expected number"),
    ({"score": {"gt": True}}, "expected number, got a boolean"),
    ({"stage": {"in": []}}, "conditions.stage.in: must be a non-empty list"),
    ({"has_email": {"gt": True}}, "has_email is a boolean"),
])
def test_invalid_conditions_name_the_problem(bad, message):
    with pytest.raises(ConditionError, match=message):
        validate_conditions(bad)
