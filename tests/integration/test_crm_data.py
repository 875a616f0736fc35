"""Real CRM data (issue 8), through the real DAG: a broker's own pipeline, rejected rows remembered,
bad connections that fail loudly, engine errors that stay recoverable, meetings that never overlap."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from include.campaigns.api.services.enrolments import retry
from include.campaigns.engine import actions
from tests.factories import (
    T0, add_agent, add_broker, add_campaign, add_lead, add_pipeline, add_template, assert_stats_match_logs, hours,
    update_lead,
)
from tests.support.dag_runs import task_states, task_tries

pytestmark = pytest.mark.integration

SPANISH = ("nuevo", "contactado", "calificado", "visita", "negociacion", "ganado", "perdido")


def rows(engine, sql, **params):
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text(sql), params)]


def scalar(engine, sql, **params):
    with engine.connect() as c:
        return c.execute(text(sql), params).scalar()


def logs_by_lead(engine, campaign_id):
    return {lead: [(step, status, reason) for _l, step, status, reason in rows(
        engine, "SELECT lead_id, step_number, status, reason FROM campaign_logs WHERE campaign_id = :c AND "
                "lead_id = :l ORDER BY id", c=campaign_id, l=lead)]
            for (lead,) in rows(engine, "SELECT DISTINCT lead_id FROM campaign_logs WHERE campaign_id = :c",
                                c=campaign_id)}


@pytest.fixture
def brokers(engine):
    """Broker 1 speaks its own pipeline's words; broker 2 has no pipeline rows at all."""
    add_broker(engine, 1, tz="America/Bogota")
    add_pipeline(engine, 1, SPANISH)
    add_broker(engine, 2, name="Río de la Plata Propiedades", tz="America/Argentina/Buenos_Aires")
    add_agent(engine, 100, 1)
    add_template(engine, 10, 1, "whatsapp")
    add_template(engine, 20, 2, "whatsapp")


def test_a_broker_with_its_own_pipeline_runs_in_its_own_words(engine, brokers, run_dag):
    add_lead(engine, 1, 1, stage="contactado", score=90, assigned_agent_id=100, timezone="America/Bogota")
    add_lead(engine, 2, 1, stage="qualified", score=90)  # another CRM's word: set aside
    add_lead(engine, 3, 2, stage="En seguimiento", score=90, timezone="America/Argentina/Buenos_Aires")
    add_lead(engine, 4, 2, stage=" ", score=90)  # blank: set aside even without a pipeline
    mover = add_campaign(engine, broker_id=1, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70}, steps=[
        {"action": "send_message", "message_template_id": 10, "conditions": {"stage": {"in": ["nuevo", "contactado"]}}},
        {"action": "update_stage", "config": {"stage": "calificado"}},
        {"action": "update_stage", "config": {"stage": "qualified"}},  # written by SQL: the API refuses it
        {"action": "make_call", "conditions": {"stage": {"eq": "won"}}},  # idem
    ])
    other = add_campaign(engine, broker_id=2, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70}, steps=[
        {"action": "send_message", "message_template_id": 20},
        {"action": "update_stage", "config": {"stage": "Cerrado (ganado)"}},
    ])
    welcome = add_campaign(engine, broker_id=1, trigger_type="STAGE_CHANGE", trigger_config={"to_stage": "calificado"},
                           steps=[{"action": "schedule_meeting"}])

    assert run_dag(T0).state == "success"
    assert rows(engine, "SELECT lead_id, reasons FROM lead_rejects ORDER BY lead_id") == [
        (2, ["unknown_stage"]), (4, ["stage_missing"])]
    assert logs_by_lead(engine, mover)[1] == [
        (1, "SENT", None), (2, "SENT", None),
        (3, "FAILED", "unknown_stage: 'qualified' is not in broker 1's pipeline (" + ", ".join(SPANISH) + ")"),
        (4, "FAILED", "unknown_stage: 'won' is not in broker 1's pipeline (" + ", ".join(SPANISH) + ") "
                      "(in the step's conditions)"),
    ]
    assert logs_by_lead(engine, other) == {3: [(1, "SENT", None), (2, "SENT", None)]}
    assert rows(engine, "SELECT id, stage FROM leads WHERE id IN (1, 3) ORDER BY id") == [
        (1, "calificado"), (3, "Cerrado (ganado)")]
    # the move to 'calificado' is a stage change of the broker's own pipeline for the next sweep
    assert run_dag(hours(1)).state == "success"
    assert logs_by_lead(engine, welcome) == {1: [(1, "SENT", None)]}
    assert_stats_match_logs(engine)


def test_a_rejected_lead_is_remembered_and_not_read_again_until_it_changes(engine, brokers, run_dag):
    add_lead(engine, 1, 1, stage="nuevo", score=90)
    add_lead(engine, 2, 1, stage="visit", score=90)  # not (yet) a stage of broker 1
    add_lead(engine, 3, 1, stage="nuevo", score=90, email="sin-arroba")
    add_lead(engine, 4, 1, stage="nuevo", score=90, timezone="America/Ciudad_de_Mexico")
    cid = add_campaign(engine, broker_id=1, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70},
                       steps=[{"action": "send_message", "message_template_id": 10}])

    def staged(at):
        return int(scalar(engine, "SELECT counts->>'leads_staged' FROM pipeline_runs WHERE run_at = :t", t=at))

    assert run_dag(T0).state == "success"
    assert staged(T0) == 4
    assert rows(engine, "SELECT lead_id, reasons FROM lead_rejects ORDER BY lead_id") == [
        (2, ["unknown_stage"]), (3, ["malformed_email"]), (4, ["unknown_timezone"])]
    for h in (1, 2):  # nothing changed: nothing is read, validated or rejected again
        assert run_dag(hours(h)).state == "success"
        assert staged(hours(h)) == 0
    assert scalar(engine, "SELECT count(*) FROM lead_rejects") == 3
    assert rows(engine, "SELECT lead_id, reject_reasons FROM lead_snapshots WHERE rejected ORDER BY 1") == [
        (2, ["unknown_stage"]), (3, ["malformed_email"]), (4, ["unknown_timezone"])]

    update_lead(engine, 3, email="ana@example.com")  # fixed by the CRM (without touching updated_at)
    assert run_dag(hours(3)).state == "success"
    assert staged(hours(3)) == 1
    with engine.begin() as c:  # the broker adds 'visit' to its pipeline: its leads are validated again
        c.execute(text("INSERT INTO pipeline_stages (broker_id, stage, position) VALUES (1, 'visit', 10)"))
    assert run_dag(hours(4)).state == "success"
    assert staged(hours(4)) == 4
    assert run_dag(hours(5)).state == "success"
    assert staged(hours(5)) == 0  # the pipeline it was validated against is recorded
    assert sorted(logs_by_lead(engine, cid)) == [1, 2, 3]  # lead 4 keeps waiting for a real time zone
    assert rows(engine, "SELECT lead_id FROM lead_snapshots WHERE rejected") == [(4,)]
    assert_stats_match_logs(engine)


def test_a_set_aside_leads_due_steps_wait_and_run_once_it_is_fixed(engine, brokers, run_dag):
    add_lead(engine, 1, 1, stage="nuevo", score=90)
    cid = add_campaign(engine, broker_id=1, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70}, steps=[
        {"action": "send_message", "message_template_id": 10},
        {"action": "send_message", "message_template_id": 10, "delay_hours": 1},
    ])
    assert run_dag(T0).state == "success"
    update_lead(engine, 1, phone="55-ROTO")
    for h in (1, 2):
        assert run_dag(hours(h)).state == "success"
    assert logs_by_lead(engine, cid) == {1: [(1, "SENT", None)]}  # step 2 is due, but the lead is set aside
    update_lead(engine, 1, phone="+573001112233")
    assert run_dag(hours(3)).state == "success"
    assert logs_by_lead(engine, cid) == {1: [(1, "SENT", None), (2, "SENT", None)]}
    assert rows(engine, "SELECT recipient FROM outbound_messages ORDER BY id")[-1] == ("+573001112233",)


@pytest.mark.parametrize("extra, says", [
    ("{not json", "channel_whatsapp"),
    (json.dumps({"timeout_seconds": 5}), "must name an adapter"),
    (json.dumps({"adapter": "sandboxx"}), "unknown adapter 'sandboxx'"),
    (json.dumps({"adapter": "tests.support.nowhere:Adapter"}), "cannot be loaded"),
    (json.dumps({"adapter": "sandbox", "max_attempts": 0}), "invalid retry policy"),
])
def test_a_malformed_channel_connection_fails_the_chunk_before_any_step_and_loses_nothing(
        engine, brokers, run_dag, no_retries, monkeypatch, extra, says):
    from include.campaigns.channels import load_adapters
    from include.campaigns.infra.connections import ConnectionConfigError

    add_lead(engine, 1, 1, stage="nuevo", score=90)
    cid = add_campaign(engine, broker_id=1, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70}, steps=[
        {"action": "update_stage", "config": {"stage": "contactado"}},
        {"action": "send_message", "message_template_id": 10},
    ])
    bad = f'{{"conn_type": "generic", "extra": {json.dumps(extra) if extra.startswith("{not") else extra}}}'
    monkeypatch.setenv("AIRFLOW_CONN_CHANNEL_WHATSAPP", bad)
    with pytest.raises(ConnectionConfigError, match=says) as error:
        load_adapters(engine, ["whatsapp"])
    assert "channel_whatsapp" in str(error.value) or "CHANNEL_WHATSAPP" in str(error.value)

    run = run_dag(T0)
    assert run.state == "failed"
    assert task_states(run)["execute_chunk[0]"] == "failed"
    assert scalar(engine, "SELECT count(*) FROM campaign_logs") == 0  # not even the update_stage step
    assert scalar(engine, "SELECT stage FROM leads WHERE id = 1") == "nuevo"
    assert scalar(engine, "SELECT count(*) FROM outbound_messages") == 0

    monkeypatch.setenv("AIRFLOW_CONN_CHANNEL_WHATSAPP", '{"conn_type": "generic", "extra": {"adapter": "sandbox"}}')
    assert run_dag(hours(1)).state == "success"  # fixed: the steps were due all along and run once
    assert logs_by_lead(engine, cid) == {1: [(1, "SENT", None), (2, "SENT", None)]}


def test_a_channel_without_a_connection_is_an_error_naming_it(engine):
    from include.campaigns.channels import load_adapters
    from include.campaigns.infra.connections import ConnectionConfigError

    with pytest.raises(ConnectionConfigError, match=r"connection channel_telegram is not defined.*\"adapter\": \"sandbox\""):
        load_adapters(engine, ["telegram"])


class BrokenUpdateStage:
    """update_stage with an engine bug that lead 2's data reaches."""

    name, contact = "update_stage", False

    def __init__(self, real):
        self.real = real

    def channel(self, campaign):
        return None

    def run(self, ctx):
        if ctx.enrolment.lead_id == 2:
            raise KeyError("agent_timezone")
        return self.real.run(ctx)


@pytest.fixture
def broken_update_stage():
    real = actions.register(BrokenUpdateStage(actions.REGISTRY["update_stage"]))
    yield
    actions.register(real)


def test_an_engine_bug_fails_the_task_writes_no_log_and_the_step_runs_once_after_a_retry(
        engine, brokers, run_dag, broken_update_stage):
    """execute_chunk fails with AirflowFailException (no retries: retrying cannot fix a bug)."""
    for lead in (1, 2, 3):
        add_lead(engine, lead, 1, stage="nuevo", score=90)
    cid = add_campaign(engine, broker_id=1, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70}, steps=[
        {"action": "send_message", "message_template_id": 10},
        {"action": "update_stage", "config": {"stage": "contactado"}},
    ])
    run = run_dag(T0)
    assert run.state == "failed"
    assert task_states(run)["execute_chunk[0]"] == "failed"
    assert task_tries(run)["execute_chunk[0]"] == 1  # not retried
    assert logs_by_lead(engine, cid) == {1: [(1, "SENT", None), (2, "SENT", None)], 2: [(1, "SENT", None)],
                                         3: [(1, "SENT", None), (2, "SENT", None)]}
    assert rows(engine, "SELECT status, last_step_number, error, error_step FROM campaign_enrolments "
                        "WHERE lead_id = 2") == [("ERROR", 1, "KeyError: 'agent_timezone'", 2)]
    assert run_dag(hours(1)).state == "success"  # a later run does not trip over it again
    assert len(logs_by_lead(engine, cid)[2]) == 1

    actions.register(actions.REGISTRY["update_stage"].real)  # the fix is deployed
    with engine.begin() as conn:
        retry(conn, frozenset({1}), cid, 2)  # the admin API's retry
    assert run_dag(hours(2)).state == "success"
    assert logs_by_lead(engine, cid)[2] == [(1, "SENT", None), (2, "SENT", None)]  # once, at last
    assert scalar(engine, "SELECT status FROM campaign_enrolments WHERE lead_id = 2") == "COMPLETED"
    assert_stats_match_logs(engine)


def test_thirty_minute_slots_book_thirty_minute_meetings_that_never_overlap(engine, brokers, run_dag, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_CAMPAIGNS_MEETING_HOURS",
                       json.dumps({"weekdays": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00", "slot_minutes": 30}))
    for lead in range(1, 6):
        add_lead(engine, lead, 1, stage="nuevo", score=90, assigned_agent_id=100, timezone="America/Bogota")
    add_campaign(engine, broker_id=1, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70},
                 steps=[{"action": "schedule_meeting"}])
    with engine.begin() as c:  # a 60-minute meeting booked when slots were an hour long: 09:30 is taken too
        c.execute(text("INSERT INTO appointments (broker_id, lead_id, agent_id, starts_at, ends_at, created_at) "
                       "VALUES (1, 99, 100, '2026-11-25T14:00Z', '2026-11-25T15:00Z', now())"))
    assert run_dag(T0).state == "success"
    booked = rows(engine, "SELECT starts_at, ends_at FROM appointments WHERE lead_id <> 99 ORDER BY starts_at")
    # Bogotá is UTC-5: 09:00 local = 14:00 UTC is taken until 15:00 UTC
    assert [(s.strftime("%H:%M"), e.strftime("%H:%M")) for s, e in booked] == [
        ("15:00", "15:30"), ("15:30", "16:00"), ("16:00", "16:30"), ("16:30", "17:00"), ("17:00", "17:30")]
    assert scalar(engine, "SELECT count(*) FROM appointments a JOIN appointments b ON a.agent_id = b.agent_id "
                          "AND a.id < b.id AND tstzrange(a.starts_at, a.ends_at) && tstzrange(b.starts_at, b.ends_at)"
                  ) == 0


def test_overlapping_meetings_for_one_agent_are_impossible_in_the_database(engine, brokers):
    insert = text("INSERT INTO appointments (broker_id, lead_id, agent_id, starts_at, ends_at, created_at) "
                  "VALUES (1, :lead, :agent, :s, :e, now())")
    with engine.begin() as c:
        c.execute(insert, {"lead": 1, "agent": 100, "s": "2026-11-25T14:00Z", "e": "2026-11-25T15:00Z"})
        c.execute(insert, {"lead": 2, "agent": 101, "s": "2026-11-25T14:30Z", "e": "2026-11-25T15:00Z"})  # other agent
        c.execute(insert, {"lead": 3, "agent": 100, "s": "2026-11-25T15:00Z", "e": "2026-11-25T15:30Z"})  # adjacent
    for start, end in (("2026-11-25T14:30Z", "2026-11-25T15:00Z"), ("2026-11-25T13:30Z", "2026-11-25T14:01Z")):
        with pytest.raises(IntegrityError, match="appointments_agent_no_overlap"), engine.begin() as c:
            c.execute(insert, {"lead": 4, "agent": 100, "s": start, "e": end})
    assert Counter(r[0] for r in rows(engine, "SELECT agent_id FROM appointments")) == {100: 2, 101: 1}
