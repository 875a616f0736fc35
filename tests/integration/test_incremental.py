"""Incremental sweeps read only what can trigger something new; these are the cases where a lead
that did not change must still be seen."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from include.campaigns.engine.enrol import enrol_leads
from include.campaigns.engine.evaluate import evaluate_triggers
from include.campaigns.engine.finish import finish_run
from include.campaigns.engine.plan import plan_due_steps
from include.campaigns.engine.snapshot import snapshot_leads
from include.campaigns.engine.run import RunContext, start_run
from tests.factories import T0, add_broker, add_campaign, add_lead, add_template, hours, set_campaign_status, update_lead

pytestmark = pytest.mark.integration


def sweep(engine, at) -> dict:
    run = RunContext(f"scheduled__{at.isoformat()}", at)
    start_run(engine, run)
    counts = snapshot_leads(engine, run)
    counts.update(evaluate_triggers(engine, run))
    counts.update(enrol_leads(engine, run))
    plan_due_steps(engine, run)
    finish_run(engine, run)
    return counts


def enrolled(engine) -> list[tuple[int, int]]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text("SELECT campaign_id, lead_id FROM campaign_enrolments ORDER BY 1, 2"))]


@pytest.fixture
def crm(engine):
    add_broker(engine, 1)
    add_broker(engine, 2, "Casas del Valle")
    add_template(engine, 10, 1, "whatsapp")
    for lead in range(1, 11):
        add_lead(engine, lead, 1, score=50 + lead * 4, last_activity_at=hours(-24 * 3))  # scores 54..90
    for lead in range(11, 21):
        add_lead(engine, lead, 2, score=95)
    return engine


def score_campaign(engine, threshold=80, status="ACTIVE"):
    return add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": threshold}, status=status,
                        steps=[{"action": "send_message", "message_template_id": 10, "delay_hours": 1}])


def test_a_quiet_hour_reads_nothing(crm):
    score_campaign(crm)
    assert sweep(crm, T0)["leads_staged"] == 20
    assert sweep(crm, hours(1))["leads_staged"] == 0
    update_lead(crm, 3, score=60)
    counts = sweep(crm, hours(2))
    assert counts["leads_staged"] == 1 and counts["trigger_candidates"] == 0


def test_a_campaign_activated_later_sees_unchanged_leads(crm):
    sweep(crm, T0)                                          # no campaign yet: snapshots only
    cid = score_campaign(crm)
    counts = sweep(crm, hours(1))
    assert counts["leads_staged"] == 10                     # all of broker 1, none of broker 2
    assert enrolled(crm) == [(cid, lead) for lead in (8, 9, 10)]


def test_changes_during_a_pause_are_seen_on_resume(crm):
    cid = score_campaign(crm)
    sweep(crm, T0)
    set_campaign_status(crm, cid, "PAUSED")
    update_lead(crm, 1, score=99)
    sweep(crm, hours(1))                                    # lead 1's snapshot moves on while paused
    assert (cid, 1) not in enrolled(crm)
    set_campaign_status(crm, cid, "ACTIVE")
    sweep(crm, hours(2))
    assert (cid, 1) in enrolled(crm)


def test_an_edited_threshold_reevaluates_its_broker(crm):
    cid = score_campaign(crm, threshold=85)
    sweep(crm, T0)
    assert enrolled(crm) == [(cid, 9), (cid, 10)]
    with crm.begin() as c:
        c.execute(text("UPDATE campaigns SET trigger_config = '{\"threshold\": 70}' WHERE id = :i"), {"i": cid})
    sweep(crm, hours(1))
    assert enrolled(crm) == [(cid, lead) for lead in (6, 7, 8, 9, 10)]


def test_an_inactivity_threshold_crossed_without_any_change(crm):
    cid = add_campaign(crm, trigger_type="INACTIVITY", trigger_config={"days": 3.5},
                       steps=[{"action": "send_message", "message_template_id": 10}])
    update_lead(crm, 2, last_activity_at=hours(-24 * 3.5 + 6))    # 3.5 days idle at T0+6h
    sweep(crm, T0)                                                 # the others (3 days idle) cross at T0+12h
    assert enrolled(crm) == []
    counts = sweep(crm, hours(5))
    assert counts["leads_staged"] == 0 and enrolled(crm) == []
    counts = sweep(crm, hours(6))
    assert counts["leads_staged"] == 1 and enrolled(crm) == [(cid, 2)]
    counts = sweep(crm, hours(12))
    assert counts["leads_staged"] == 9
    assert enrolled(crm) == [(cid, lead) for lead in range(1, 11)]
