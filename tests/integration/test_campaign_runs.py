"""The real DAG, run in-process with dag.test() at chosen dates, against PostgreSQL.

Each test states its campaign, runs the hourly sweep or an apply-to-lead, and asserts on
campaign_logs, campaign_stats and the side-effect tables.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from tests.factories import (
    T0, add_agent, add_broker, add_campaign, add_lead, add_template, assert_stats_match_logs, hours, logs,
    set_campaign_status, stats, update_lead,
)

pytestmark = pytest.mark.integration


def scalar(engine, sql, **params):
    with engine.connect() as c:
        return c.execute(text(sql), params).scalar()


def rows(engine, sql, **params):
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text(sql), params)]


def steps_of(engine, cid):
    return [(lead, step, status, reason) for lead, step, _a, status, reason, _t in logs(engine, cid)]


@pytest.fixture
def broker(engine):
    add_broker(engine, 1)
    add_agent(engine, 100, 1)
    add_template(engine, 10, 1, "whatsapp")
    add_template(engine, 11, 1, "whatsapp", is_active=False)
    return 1


def test_walks_a_campaign_through_its_delays(engine, broker, run_dag):
    add_lead(engine, 1, score=85, assigned_agent_id=100, last_activity_at=hours(-1))
    cid = add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70}, steps=[
        {"action": "send_message", "message_template_id": 10, "delay_hours": 0},
        {"action": "make_call", "delay_hours": 2},
        {"action": "schedule_meeting", "delay_hours": 24},
        {"action": "update_stage", "delay_hours": 0, "config": {"stage": "visit_scheduled"}},
    ])

    assert run_dag(T0).state == "success"
    assert steps_of(engine, cid) == [(1, 1, "SENT", None)]
    assert run_dag(hours(1)).state == "success"          # step 2 not due before T0+2h
    assert len(logs(engine, cid)) == 1
    assert run_dag(hours(2)).state == "success"
    assert steps_of(engine, cid)[-1] == (1, 2, "SENT", None)
    assert run_dag(hours(25)).state == "success"         # step 3 due at T0+2h+24h
    assert len(logs(engine, cid)) == 2
    assert run_dag(hours(26)).state == "success"         # step 3, then step 4 (zero delay) in the same run
    assert steps_of(engine, cid) == [(1, 1, "SENT", None), (1, 2, "SENT", None), (1, 3, "SENT", None),
                                     (1, 4, "SENT", None)]
    assert [r[5] for r in logs(engine, cid)] == [T0, hours(2), hours(26), hours(26)]  # run time, not wall clock
    assert stats(engine, cid) == (4, 0, 0)
    assert rows(engine, "SELECT status, last_step_number, finished_at FROM campaign_enrolments") == [
        ("COMPLETED", 4, hours(26))]
    assert scalar(engine, "SELECT stage FROM leads WHERE id = 1") == "visit_scheduled"
    assert rows(engine, "SELECT from_stage, to_stage, changed_at FROM lead_stage_history") == [
        ("new", "visit_scheduled", hours(26))]
    # the meeting: the agent's next working-hours slot in the lead's zone (Mexico City, UTC-6)
    start, agent = rows(engine, "SELECT starts_at, agent_id FROM appointments")[0]
    assert agent == 100 and start == hours(29)  # Thursday 12:00 UTC = 06:00 local -> 09:00 local = 15:00 UTC
    assert rows(engine, "SELECT channel, recipient FROM outbound_messages ORDER BY id") == [
        ("whatsapp", "+525512345678"), ("voice", "+525512345678")]
    assert run_dag(hours(40)).state == "success"         # nothing left to do
    assert len(logs(engine, cid)) == 4
    assert_stats_match_logs(engine)


def test_one_sweep_every_outcome(engine, broker, run_dag):
    """FA-1 (missing/inactive template), FA-2 (call fails), do_not_contact, conditions, no address,
    a malformed lead set aside while the rest of the run goes on."""
    add_lead(engine, 1, score=90, assigned_agent_id=100)
    add_lead(engine, 2, score=90, do_not_contact=True)
    add_lead(engine, 3, score=90, phone="+15005550001")            # the sandbox's unreachable number
    add_lead(engine, 4, score=90, phone=None)
    add_lead(engine, 5, score=150)                                  # malformed: set aside
    cid = add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70}, steps=[
        {"action": "send_message", "message_template_id": 10},
        {"action": "send_message", "message_template_id": 999},     # FA-1: no such template
        {"action": "send_message", "message_template_id": 11},      # FA-1: inactive template
        {"action": "make_call"},                                    # FA-2 for lead 3
        {"action": "update_stage", "config": {"stage": "contacted"}, "conditions": {"score": {"gte": 95}}},
        {"action": "update_stage", "config": {"stage": "qualified"}, "conditions": {"has_agent": {"eq": True}}},
    ])
    assert run_dag(T0).state == "success"

    got = {(lead, step): (status, reason) for lead, step, status, reason in steps_of(engine, cid)}
    for lead in (1, 3, 4):
        assert got[(lead, 2)] == ("FAILED", "template_not_found")
        assert got[(lead, 3)] == ("FAILED", "template_inactive")
    for lead in (1, 2, 3, 4):
        assert got[(lead, 5)] == ("SKIPPED", "condition_not_met")
    assert got[(1, 1)] == ("SENT", None) and got[(1, 4)] == ("SENT", None) and got[(1, 6)] == ("SENT", None)
    assert [got[(2, n)] for n in (1, 2, 3, 4)] == [("SKIPPED", "do_not_contact")] * 4
    assert got[(3, 1)] == ("FAILED", "provider_error: unreachable number")
    assert got[(3, 4)] == ("FAILED", "provider_error: unreachable number")
    assert got[(4, 1)] == ("FAILED", "no_phone_number") and got[(4, 4)] == ("FAILED", "no_phone_number")
    assert [got[(lead, 6)] for lead in (2, 3, 4)] == [("SKIPPED", "condition_not_met")] * 3  # no agent
    assert not any(lead == 5 for lead, _ in got)
    assert len(got) == 24
    assert stats(engine, cid) == (3, 10, 11)
    assert rows(engine, "SELECT lead_id, reasons FROM lead_rejects") == [(5, ["score_out_of_range"])]
    assert scalar(engine, "SELECT counts->>'leads_rejected' FROM pipeline_runs") == "1"
    assert rows(engine, "SELECT id, stage FROM leads WHERE stage <> 'new' ORDER BY id") == [(1, "qualified")]
    assert rows(engine, "SELECT count(*) FROM campaign_enrolments WHERE status = 'COMPLETED'") == [(4,)]
    assert_stats_match_logs(engine)


def test_fa3_reapply_is_skipped_and_automatic_rematch_writes_nothing(engine, broker, run_dag):
    add_lead(engine, 1, score=90)
    cid = add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70}, steps=[
        {"action": "send_message", "message_template_id": 10},
        {"action": "make_call", "delay_hours": 48},
    ])
    run_dag(T0)
    run_dag(hours(1))
    assert steps_of(engine, cid) == [(1, 1, "SENT", None)]
    assert run_dag(hours(2), {"campaign_id": cid, "lead_id": 1}, manual=True).state == "success"
    assert steps_of(engine, cid) == [(1, 1, "SENT", None), (1, None, "SKIPPED", "already_enrolled")]
    assert scalar(engine, "SELECT count(*) FROM campaign_enrolments") == 1
    assert stats(engine, cid) == (1, 0, 1)


def test_fa4_max_contacts_stops_the_sequence(engine, broker, run_dag):
    add_lead(engine, 1, score=10)
    cid = add_campaign(engine, max_contacts=2, steps=[
        {"action": "send_message", "message_template_id": 10},
        {"action": "update_stage", "config": {"stage": "contacted"}},
        {"action": "make_call"},
        {"action": "send_message", "message_template_id": 10},
        {"action": "update_stage", "config": {"stage": "lost"}},
    ])
    assert run_dag(T0, {"campaign_id": cid, "lead_id": 1}, manual=True).state == "success"
    assert steps_of(engine, cid) == [(1, 1, "SENT", None), (1, 2, "SENT", None), (1, 3, "SENT", None),
                                     (1, None, "SKIPPED", "max_contacts_reached")]
    assert rows(engine, "SELECT status, last_step_number FROM campaign_enrolments") == [("STOPPED", 3)]
    assert scalar(engine, "SELECT stage FROM leads WHERE id = 1") == "contacted"
    run_dag(hours(5))
    assert len(logs(engine, cid)) == 4
    assert stats(engine, cid) == (3, 0, 1)


def test_apply_checks_the_trigger_against_the_leads_current_state(engine, broker, run_dag):
    add_lead(engine, 1, score=70)                                   # equal to the threshold: not met
    add_lead(engine, 2, stage="qualified")
    score = add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70},
                         steps=[{"action": "send_message", "message_template_id": 10}])
    stage = add_campaign(engine, trigger_type="STAGE_CHANGE", trigger_config={"to_stage": "qualified"},
                         steps=[{"action": "send_message", "message_template_id": 10}])
    run_dag(T0, {"campaign_id": score, "lead_id": 1}, manual=True)
    run_dag(T0, {"campaign_id": stage, "lead_id": 2}, manual=True)
    assert steps_of(engine, score) == [(1, None, "SKIPPED", "trigger_not_met")]
    assert steps_of(engine, stage) == [(2, 1, "SENT", None)]
    assert rows(engine, "SELECT campaign_id, lead_id FROM campaign_enrolments") == [(stage, 2)]


def test_stage_change_and_inactivity_in_the_sweep(engine, broker, run_dag):
    add_lead(engine, 1, stage="contacted", last_activity_at=hours(-24 * 14))   # exactly 14 days: inactive
    add_lead(engine, 2, stage="new", last_activity_at=hours(-24 * 14 + 0.5))   # 13.98 days: not yet
    add_lead(engine, 3, stage="qualified", last_activity_at=None)             # never active; first seen
    stage = add_campaign(engine, trigger_type="STAGE_CHANGE", trigger_config={"to_stage": "qualified"},
                         steps=[{"action": "send_message", "message_template_id": 10}])
    idle = add_campaign(engine, trigger_type="INACTIVITY", trigger_config={"days": 14},
                        steps=[{"action": "send_message", "message_template_id": 10}])
    run_dag(T0)
    assert steps_of(engine, stage) == []                          # lead 3 seen for the first time
    assert [r[0] for r in steps_of(engine, idle)] == [1]
    update_lead(engine, 1, stage="qualified")
    update_lead(engine, 2, stage="qualified")
    run_dag(hours(1))
    assert sorted(r[0] for r in steps_of(engine, stage)) == [1, 2]  # changed into qualified since last sweep
    assert sorted(r[0] for r in steps_of(engine, idle)) == [1, 2]   # lead 2 is 14 days idle at T0+1h
    run_dag(hours(2))                                               # no change: nothing new
    assert len(logs(engine)) == 4


def test_paused_campaign_keeps_its_enrolments_and_resumes(engine, broker, run_dag):
    add_lead(engine, 1, score=90)
    cid = add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70}, steps=[
        {"action": "send_message", "message_template_id": 10},
        {"action": "make_call", "delay_hours": 2},
    ])
    run_dag(T0)
    set_campaign_status(engine, cid, "PAUSED")
    add_lead(engine, 2, score=95)
    run_dag(hours(3))
    assert steps_of(engine, cid) == [(1, 1, "SENT", None)]
    set_campaign_status(engine, cid, "ACTIVE")
    run_dag(hours(4))
    assert sorted(steps_of(engine, cid)) == [(1, 1, "SENT", None), (1, 2, "SENT", None), (2, 1, "SENT", None)]
    assert rows(engine, "SELECT executed_at FROM campaign_logs WHERE lead_id = 1 AND step_number = 2") == [(hours(4),)]


def test_brokers_are_isolated(engine, broker, run_dag):
    add_broker(engine, 2, "Casas del Valle")
    add_template(engine, 20, 2, "whatsapp")
    add_lead(engine, 1, 1, score=90)
    add_lead(engine, 2, 2, score=90)
    one = add_campaign(engine, broker_id=1, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70},
                       steps=[{"action": "send_message", "message_template_id": 10}])
    two = add_campaign(engine, broker_id=2, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70},
                       steps=[{"action": "send_message", "message_template_id": 10}])  # broker 1's template
    run_dag(T0)
    assert steps_of(engine, one) == [(1, 1, "SENT", None)]
    assert steps_of(engine, two) == [(2, 1, "FAILED", "template_not_found")]
    before = scalar(engine, "SELECT count(*) FROM campaign_logs")
    assert run_dag(hours(1), {"campaign_id": one, "lead_id": 2}, manual=True).state == "failed"
    assert scalar(engine, "SELECT count(*) FROM campaign_logs") == before


@pytest.mark.parametrize("conf", [
    {"campaign_id": 1, "lead_id": None},        # one without the other
    {"campaign_id": None, "lead_id": 1},
    {"campaign_id": 999, "lead_id": 1},         # no such campaign
    {"campaign_id": 1, "lead_id": 999},         # no such lead
    {"campaign_id": "DRAFT", "lead_id": 1},     # campaign exists but is not ACTIVE
])
def test_invalid_apply_fails_the_run_and_writes_nothing(engine, broker, run_dag, conf):
    add_lead(engine, 1, score=90)
    active = add_campaign(engine, steps=[{"action": "send_message", "message_template_id": 10}])
    draft = add_campaign(engine, status="DRAFT", steps=[{"action": "send_message", "message_template_id": 10}])
    conf = {k: (draft if v == "DRAFT" else active if v == 1 and k == "campaign_id" else v) for k, v in conf.items()}
    assert run_dag(T0, conf, manual=True).state == "failed"
    for table in ("campaign_logs", "campaign_stats", "campaign_enrolments", "pipeline_runs", "outbound_messages",
                  "run_leads"):
        assert scalar(engine, f"SELECT count(*) FROM {table}") == 0, table


def test_the_same_run_again_sends_nothing_twice(engine, broker, run_dag):
    for lead in range(1, 6):
        add_lead(engine, lead, score=90)
    cid = add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70}, steps=[
        {"action": "send_message", "message_template_id": 10},
        {"action": "make_call"},
    ])
    run_dag(T0)
    run_dag(T0)                                   # a replay of the same logical date
    run_dag(T0 + timedelta(minutes=30), {"campaign_id": cid, "lead_id": 3}, manual=True)
    assert len(logs(engine, cid)) == 11           # 5 leads x 2 steps + one already_enrolled
    assert scalar(engine, "SELECT count(*) FROM outbound_messages") == 10
    assert stats(engine, cid) == (10, 0, 1)
    assert_stats_match_logs(engine)
