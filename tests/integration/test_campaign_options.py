"""Campaign options beyond the use case (CONTRACT §6), through the real DAG at chosen run times: quiet hours,
goals, broker-wide frequency caps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from include.campaigns.engine.enrol import enrol_leads
from include.campaigns.engine.evaluate import evaluate_triggers
from include.campaigns.engine.execute import execute_chunk
from include.campaigns.engine.plan import plan_due_steps
from include.campaigns.engine.run import RunContext, start_run
from include.campaigns.engine.settings import EngineSettings
from include.campaigns.engine.snapshot import snapshot_leads
from include.campaigns.engine.writer import ChunkWriter
from include.campaigns.quality.validate import validate_snapshot
from tests.factories import (
    T0, add_agent, add_broker, add_campaign, add_frequency_cap, add_lead, add_pipeline, add_template,
    assert_stats_match_logs, hours, update_lead,
)

pytestmark = pytest.mark.integration

NIGHT = {"start": "21:00", "end": "09:00"}
STAGES = ("nuevo", "contactado", "visita", "ganado", "perdido")


def logs(engine, campaign_id=None):
    where = "WHERE campaign_id = :c" if campaign_id else ""
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text(
            f"SELECT lead_id, step_number, status, reason, executed_at FROM campaign_logs {where} ORDER BY id"),
            {"c": campaign_id})]


def scalar(engine, sql, **params):
    with engine.connect() as c:
        return c.execute(text(sql), params).scalar()


@pytest.fixture
def broker(engine):
    add_broker(engine, 1, tz="America/Bogota")  # UTC-5, no DST: 21:00-09:00 local = 02:00-14:00 UTC
    add_pipeline(engine, 1, STAGES)
    add_agent(engine, 100, 1)
    add_template(engine, 10, 1, "whatsapp")
    add_template(engine, 11, 1, "sms")


def test_a_contact_step_due_in_quiet_hours_waits_for_the_first_run_after_the_window(engine, broker, run_dag):
    add_lead(engine, 1, 1, stage="nuevo", score=90, timezone="America/Bogota")
    add_lead(engine, 2, 1, stage="nuevo", score=90, timezone="Europe/Madrid")  # 03:00 UTC = 04:00: quiet too
    cid = add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70}, quiet_hours=NIGHT, steps=[
        {"action": "send_message", "message_template_id": 10},
        {"action": "update_stage", "delay_hours": 2, "config": {"stage": "contactado"}},  # not a contact: not deferred
        {"action": "send_message", "message_template_id": 10},                              # zero delay: deferred
        {"action": "make_call", "delay_hours": 1},                                           # counts from the real send
    ])
    day = T0.replace(hour=1)  # 2026-11-25 01:00 UTC = 20:00 in Bogotá, 02:00 in Madrid (CET, UTC+1)

    def steps_of(lead):
        return [(s, st, t) for lead_id, s, st, _r, t in logs(engine, cid) if lead_id == lead]

    assert run_dag(day).state == "success"
    assert steps_of(1) == [(1, "SENT", day)]
    assert steps_of(2) == []  # Madrid is in its night already: lead 2's first message waits
    for h in range(2, 13):  # 03:00 .. 13:00 UTC: night in Bogotá until 14:00 UTC
        assert run_dag(day + timedelta(hours=h)).state == "success"
    # the stage move ran when due (03:00); the zero-delay message after it waits for the window's end
    assert steps_of(1) == [(1, "SENT", day), (2, "SENT", day + timedelta(hours=2))]
    # Madrid's night ended at 08:00 UTC: its chain ran in the first runs after it
    assert [(s, t) for s, _st, t in steps_of(2)] == [
        (1, day + timedelta(hours=7)), (2, day + timedelta(hours=9)), (3, day + timedelta(hours=9)),
        (4, day + timedelta(hours=10))]
    assert run_dag(day + timedelta(hours=13)).state == "success"  # 14:00 UTC = 09:00 in Bogotá
    assert steps_of(1)[2] == (3, "SENT", day + timedelta(hours=13))  # its log carries the run that sent it
    assert run_dag(day + timedelta(hours=14)).state == "success"  # the call: 1 h after the real send
    assert steps_of(1)[3] == (4, "SENT", day + timedelta(hours=14))
    assert scalar(engine, "SELECT count(*) FROM outbound_messages WHERE lead_id = 1") == 3
    assert_stats_match_logs(engine)


class CrashingWriter(ChunkWriter):
    def write(self, conn, run, data, out):
        raise ConnectionResetError("the connection dropped after the sends")


def _prepare(engine, run):
    start_run(engine, run)
    snapshot_leads(engine, run)
    validate_snapshot(engine, run)
    evaluate_triggers(engine, run)
    enrol_leads(engine, run)
    return plan_due_steps(engine, run, EngineSettings(max_chunks=1))


def test_a_deferred_step_is_sent_once_when_its_chunk_is_retried_at_the_windows_end(engine, broker):
    add_lead(engine, 1, 1, stage="nuevo", score=90, timezone="America/Bogota")
    cid = add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70}, quiet_hours=NIGHT,
                       steps=[{"action": "send_message", "message_template_id": 10}])
    night = RunContext("scheduled__night", T0.replace(hour=5))
    assert _prepare(engine, night) == []  # planned nothing: the step waits
    morning = RunContext("scheduled__morning", T0.replace(hour=14))
    [chunk] = _prepare(engine, morning)
    with pytest.raises(ConnectionResetError):
        execute_chunk(engine, morning, chunk, writer=CrashingWriter())
    assert execute_chunk(engine, morning, chunk)["sent"] == 1  # the task's retry
    assert execute_chunk(engine, morning, chunk)["claimed"] == 0
    assert [(s, st) for _l, s, st, _r, _t in logs(engine, cid)] == [(1, "SENT")]
    assert scalar(engine, "SELECT count(*) FROM outbound_messages") == 1


def test_a_goal_ends_the_enrolment_before_any_further_step(engine, broker, run_dag):
    add_lead(engine, 1, 1, stage="nuevo", score=90)
    add_lead(engine, 2, 1, stage="nuevo", score=90)
    add_lead(engine, 3, 1, stage="nuevo", score=90)
    cid = add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70}, goal={"stages": ["ganado"]},
                       steps=[
                           {"action": "send_message", "message_template_id": 10},
                           {"action": "update_stage", "config": {"stage": "ganado"},
                            "conditions": {"score": {"gte": 95}}},
                           {"action": "send_message", "message_template_id": 10},
                           {"action": "make_call", "delay_hours": 48},
                       ])
    update_lead(engine, 3, score=99)
    assert run_dag(T0).state == "success"
    # lead 3 reached the goal through the campaign's own stage move: the next step did not run
    assert [(s, st, r) for lead, s, st, r, _t in logs(engine, cid) if lead == 3] == [
        (1, "SENT", None), (2, "SENT", None), (None, "SKIPPED", "goal_reached")]
    update_lead(engine, 1, stage="ganado")  # the CRM closes lead 1; its next step is two days away
    assert run_dag(hours(1)).state == "success"
    assert [(s, st, r) for lead, s, st, r, _t in logs(engine, cid) if lead == 1][-1] == (None, "SKIPPED", "goal_reached")
    assert run_dag(hours(49)).state == "success"  # lead 2's call; leads 1 and 3 have ended
    assert [lead for lead, s, *_ in logs(engine, cid) if s == 4] == [2]
    with engine.connect() as c:
        assert dict(c.execute(text("SELECT lead_id, status FROM campaign_enrolments")).all()) == {
            1: "STOPPED", 2: "COMPLETED", 3: "STOPPED"}  # ended early by the goal
    assert scalar(engine, "SELECT count(*) FROM campaign_logs WHERE reason = 'goal_reached'") == 2
    assert_stats_match_logs(engine)


def test_a_frequency_cap_spans_the_brokers_campaigns_and_the_lead_goes_on(engine, broker, run_dag):
    add_frequency_cap(engine, 1, "whatsapp", max_contacts=1, per_hours=24)
    add_frequency_cap(engine, 1, None, max_contacts=3, per_hours=24)  # every channel, calls included
    add_lead(engine, 1, 1, stage="nuevo", score=90)
    first = add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70},
                         steps=[{"action": "send_message", "message_template_id": 10}])
    second = add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": 80}, max_contacts=1, steps=[
        {"action": "send_message", "message_template_id": 10},   # the same run, the same channel: capped
        {"action": "make_call"},                                  # voice: the lead goes on
        {"action": "send_message", "message_template_id": 11, "delay_hours": 1},  # sms (campaign is whatsapp)
    ])
    sms = add_campaign(engine, channel="sms", trigger_type="LEAD_SCORE", trigger_config={"threshold": 60}, steps=[
        {"action": "send_message", "message_template_id": 11},
        {"action": "send_message", "message_template_id": 11, "delay_hours": 2},
        {"action": "send_message", "message_template_id": 11, "delay_hours": 24},
    ])
    assert run_dag(T0).state == "success"
    assert [(s, st, r) for _l, s, st, r, _t in logs(engine, first)] == [(1, "SENT", None)]
    assert [(s, st, r) for _l, s, st, r, _t in logs(engine, second)] == [
        (1, "SKIPPED", "frequency_capped"), (2, "SENT", None)]  # capped contacts do not count towards max_contacts
    assert [(s, st, r) for _l, s, st, r, _t in logs(engine, sms)] == [(1, "SENT", None)]  # 3 contacts in 24 h
    assert run_dag(hours(2)).state == "success"
    assert logs(engine, sms)[-1][1:4] == (2, "SKIPPED", "frequency_capped")  # the every-channel cap is used up
    assert logs(engine, second)[-1][1:4] == (None, "SKIPPED", "max_contacts_reached")  # the call counted
    assert run_dag(hours(26)).state == "success"  # 24 h after the capped step: the window has moved on
    assert logs(engine, sms)[-1][1:4] == (3, "SENT", None)
    assert scalar(engine, "SELECT count(*) FROM campaign_logs WHERE reason = 'frequency_capped'") == 2
    assert_stats_match_logs(engine)
