"""A campaign edited or paused while its leads are mid-way, including at exact moments inside a run.

The step-edit rule (docs/api.md): live campaigns only get steps appended after the last one; an
appended step reaches every enrolment still running, completed ones stay completed. Delays are read
when a step is planned, so a changed delay applies to the steps not yet run. A PAUSED campaign keeps
its enrolments and resumes where it stopped; a pause takes effect at the next claim -- the chain of due
steps a running chunk has already claimed completes (documented in docs/reliability.md).
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from tests.factories import T0, add_broker, add_campaign, add_lead, add_template, hours, set_campaign_status
from tests.reliability.world import log_counter, rows
from tests.support.faults import CLAIM_STATEMENT, FAULTS, OnStatement

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SEND = {"action": "send_message", "message_template_id": 10}


def append_step(engine, campaign_id: int, **step) -> None:
    with engine.begin() as c:
        c.execute(text(
            "INSERT INTO campaign_steps (campaign_id, step_number, action, delay_hours, message_template_id, config) "
            "SELECT :c, max(step_number) + 1, :a, :d, :t, CAST(:cfg AS jsonb) FROM campaign_steps WHERE campaign_id = :c"),
            {"c": campaign_id, "a": step["action"], "d": step.get("delay_hours", 0),
             "t": step.get("message_template_id"), "cfg": json.dumps(step.get("config", {}))})
    FAULTS.add("campaign_edits")


def set_delay(engine, campaign_id: int, step: int, delay: float) -> None:
    with engine.begin() as c:
        c.execute(text("UPDATE campaign_steps SET delay_hours = :d WHERE campaign_id = :c AND step_number = :s"),
                  {"d": delay, "c": campaign_id, "s": step})
    FAULTS.add("campaign_edits")


def pause(engine, campaign_id: int, status: str = "PAUSED") -> None:
    set_campaign_status(engine, campaign_id, status)
    FAULTS.add("campaign_pauses" if status == "PAUSED" else "campaign_resumes")


def steps_done(engine, cid: int) -> dict[int, int]:
    """step_number -> SENT rows."""
    return {s: n for (s, status, _r), n in log_counter(engine, cid).items() if status == "SENT"}


def test_edits_and_pauses_while_leads_are_mid_way(engine, run_dag, invariants):
    add_broker(engine, 1)
    add_template(engine, 10, 1, "whatsapp")
    for lead in (1, 2):
        add_lead(engine, lead, score=90, phone=f"+52551234567{lead}")
    trig = {"trigger_type": "LEAD_SCORE", "trigger_config": {"threshold": 70}}
    delay_changed = add_campaign(engine, name="A", **trig, steps=[
        SEND, {**SEND, "delay_hours": 24}, {"action": "update_stage", "config": {"stage": "contacted"}}])
    appended = add_campaign(engine, name="B", **trig, steps=[
        SEND, {"action": "update_stage", "delay_hours": 2, "config": {"stage": "qualified"}}])
    paused = add_campaign(engine, name="C", **trig, steps=[SEND, {**SEND, "delay_hours": 2}])
    paused_before_claim = add_campaign(engine, name="D", **trig, steps=[SEND])
    completed = add_campaign(engine, name="E", **trig, steps=[SEND])
    paused_in_flight = add_campaign(engine, name="G", **trig, steps=[
        SEND, {"action": "update_stage", "config": {"stage": "visit_scheduled"}}])

    # run 1: D is paused between the planning and the claim; G is paused just after the claim
    with OnStatement(engine, CLAIM_STATEMENT, lambda: pause(engine, paused_before_claim), when="before") as before, \
            OnStatement(engine, CLAIM_STATEMENT, lambda: pause(engine, paused_in_flight), when="after") as after:
        assert run_dag(T0).state == "success"
    assert before.fired == after.fired == 1
    assert steps_done(engine, paused_before_claim) == {}  # not claimed: waits, enrolments kept
    assert steps_done(engine, paused_in_flight) == {1: 2, 2: 2}  # claimed before the pause: its chain completed
    for cid in (delay_changed, appended, paused, completed):
        assert steps_done(engine, cid) == {1: 2}
    invariants(at=T0)

    set_delay(engine, delay_changed, 2, 1)  # 24 h -> 1 h for the leads waiting on step 2
    append_step(engine, appended, **SEND, delay_hours=1)  # step 3, 1 h after step 2
    pause(engine, paused)
    pause(engine, paused_before_claim, "ACTIVE")
    append_step(engine, completed, **SEND)  # E's leads have completed: they stay completed
    pause(engine, paused_in_flight, "ACTIVE")

    assert run_dag(hours(1)).state == "success"
    assert steps_done(engine, delay_changed) == {1: 2, 2: 2, 3: 2}  # new delay, and the zero-delay step after it
    assert steps_done(engine, paused_before_claim) == {1: 2}  # resumed where it stopped
    assert steps_done(engine, paused) == {1: 2}
    assert steps_done(engine, completed) == {1: 2}
    invariants(at=hours(1))

    assert run_dag(hours(2)).state == "success"
    assert steps_done(engine, appended) == {1: 2, 2: 2}
    assert steps_done(engine, paused) == {1: 2}  # still paused: its step 2, due at T0+2h, waits
    invariants(at=hours(2))
    pause(engine, paused, "ACTIVE")

    assert run_dag(hours(3)).state == "success"
    assert steps_done(engine, appended) == {1: 2, 2: 2, 3: 2}  # the appended step, 1 h after step 2
    assert steps_done(engine, paused) == {1: 2, 2: 2}  # resumed: the overdue step runs once
    assert rows(engine, "SELECT DISTINCT executed_at FROM campaign_logs WHERE campaign_id = :c AND step_number = 2",
                c=paused) == [(hours(3),)]
    assert rows(engine, "SELECT count(*) FROM campaign_enrolments WHERE campaign_id = :c AND status = 'COMPLETED'",
                c=completed) == [(2,)]
    invariants(at=hours(3))


def test_a_step_appended_while_a_chunk_runs_the_last_step_still_reaches_the_lead(engine, run_dag, invariants):
    add_broker(engine, 1)
    add_template(engine, 10, 1, "whatsapp")
    add_lead(engine, 1, score=90)
    cid = add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70}, steps=[SEND])
    # the chunk has loaded the campaign's steps (one): the admin appends step 2 now
    with OnStatement(engine, r"FROM campaign_steps WHERE campaign_id = ANY",
                     lambda: append_step(engine, cid, action="update_stage", config={"stage": "contacted"})) as hook:
        assert run_dag(T0).state == "success"
    assert hook.fired == 1
    assert run_dag(hours(1)).state == "success"
    invariants(at=hours(1))
    assert steps_done(engine, cid) == {1: 1, 2: 1}
