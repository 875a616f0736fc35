from datetime import datetime, timezone

import pytest

from include.campaigns.engine.run import InvalidRunParams, RunContext, resolve_run

AT = datetime(2026, 11, 25, 10, tzinfo=timezone.utc)
LATER = datetime(2026, 11, 25, 10, 7, tzinfo=timezone.utc)


def test_logical_date_wins_over_run_after():
    run = resolve_run("r", {"campaign_id": None, "lead_id": None}, AT, LATER)
    assert (run.run_at, run.mode) == (AT, "sweep")


def test_manual_run_without_logical_date_uses_run_after():
    run = resolve_run("r", {"campaign_id": 3, "lead_id": 4}, None, LATER)
    assert (run.run_at, run.mode, run.campaign_id, run.lead_id) == (LATER, "apply", 3, 4)


@pytest.mark.parametrize("params, message", [
    ({"campaign_id": 3, "lead_id": None}, "lead_id is missing"),
    ({"campaign_id": None, "lead_id": 4}, "campaign_id is missing"),
    ({"campaign_id": 0, "lead_id": 4}, "campaign_id must be a positive integer"),
    ({"campaign_id": "3", "lead_id": 4}, "campaign_id must be a positive integer"),
    ({"campaign_id": 3, "lead_id": True}, "lead_id must be a positive integer"),
])
def test_invalid_params_are_refused_with_a_clear_message(params, message):
    with pytest.raises(InvalidRunParams, match=message):
        resolve_run("r", params, AT, LATER)


def test_round_trip_through_xcom():
    run = RunContext("r", AT, 1, 2)
    assert RunContext.from_dict(run.to_dict()) == run
