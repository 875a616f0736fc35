"""Each real adapter through the real DAG (``dag.test``), configured as a broker would: the channel
connections as ``AIRFLOW_CONN_CHANNEL_*`` environment variables pointing at the local peers."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.factories import (
    T0, add_agent, add_broker, add_campaign, add_lead, add_template, assert_stats_match_logs, hours, logs,
)
from tests.support.dag_runs import task_states

pytestmark = pytest.mark.integration


def delivery_rows(engine):
    with engine.connect() as c:
        return c.execute(text("SELECT lead_id, step_number, channel, provider, status, error_code "
                              "FROM message_deliveries ORDER BY lead_id, step_number")).all()


@pytest.fixture
def broker(engine):
    add_broker(engine, 1, name="Inmobiliaria Sol", tz="America/Mexico_City")
    add_agent(engine, 100, 1, name="Lucía Romero")


def test_sms_and_calls_through_twilio_in_a_sweep(engine, broker, twilio, twilio_channel, run_dag):
    twilio_channel("sms")
    twilio_channel("voice")
    add_template(engine, 10, 1, "sms", body="Hola {{ lead.first_name }}, soy {{ agent.full_name }}.")
    add_template(engine, 11, 1, "voice", body="Buenos días {{ lead.first_name }}, le llama {{ broker.name }}.")
    add_lead(engine, 1, 1, score=90, phone="+525512340001", full_name="Ana Pérez", assigned_agent_id=100)
    add_lead(engine, 2, 1, score=95, phone="+525512340002", full_name="Luis Gómez", assigned_agent_id=100,
             timezone="Europe/Madrid")
    add_lead(engine, 3, 1, score=20, phone="+525512340003")  # below the threshold: never contacted
    twilio.script["messages:+525512340002"] = ["21211"]  # Twilio refuses Luis's number for SMS
    cid = add_campaign(engine, broker_id=1, channel="sms", trigger_type="LEAD_SCORE", trigger_config={"threshold": 70},
                       steps=[{"action": "send_message", "message_template_id": 10},
                              {"action": "make_call", "message_template_id": 11, "delay_hours": 1},
                              {"action": "make_call", "message_template_id": 10}])  # an SMS text is no call script

    assert run_dag(T0).state == "success"
    assert sorted((m["to"], m["body"]) for m in twilio.messages) == [
        ("+525512340001", "Hola Ana, soy Lucía Romero.")]
    rows = sorted((r[0], r[1], r[3], r[4]) for r in logs(engine, cid))
    assert rows == [(1, 1, "SENT", None),
                    (2, 1, "FAILED", "provider_error: twilio 21211: Invalid 'To' Phone Number: +525512340002")]

    assert run_dag(hours(1)).state == "success"  # the calls are due
    calls = {c["to"]: c["_form"]["Twiml"] for c in twilio.calls}
    assert calls == {
        "+525512340001": '<?xml version="1.0" encoding="UTF-8"?><Response><Say language="es-MX">Buenos días Ana, '
                         "le llama Inmobiliaria Sol.</Say></Response>",
        "+525512340002": '<?xml version="1.0" encoding="UTF-8"?><Response><Say language="es-ES">Buenos días Luis, '
                         "le llama Inmobiliaria Sol.</Say></Response>"}
    assert {(r[0], r[1], r[3], r[4]) for r in logs(engine, cid) if r[1] > 1} == {
        (1, 2, "SENT", None), (2, 2, "SENT", None),
        (1, 3, "FAILED", "template_channel_mismatch: template is sms, a call script is voice"),
        (2, 3, "FAILED", "template_channel_mismatch: template is sms, a call script is voice")}
    assert delivery_rows(engine) == [(1, 1, "sms", "twilio", "queued", None), (1, 2, "voice", "twilio", "queued", None),
                                     (2, 1, "sms", "twilio", "failed", "21211"),
                                     (2, 2, "voice", "twilio", "queued", None)]
    assert run_dag(hours(5)).state == "success"  # nothing more is due, nothing is sent again
    assert len(twilio.messages) == 1 and len(twilio.calls) == 2
    assert_stats_match_logs(engine)


def test_email_through_smtp_in_a_sweep(engine, broker, smtp, smtp_channel, unsubscribe_links, run_dag):
    smtp_channel(smtp)
    add_template(engine, 20, 1, "email", subject="{{ lead.first_name }}, tu casa en {{ broker.name }}",
                 body="Hola {{ lead.first_name }},\n¿Agendamos una visita?")
    add_lead(engine, 1, 1, score=90, email="ana@example.com", full_name="Ana Pérez")
    add_lead(engine, 2, 1, score=90, email="busy@example.com", full_name="Luis Gómez")
    add_lead(engine, 3, 1, score=90, email="nobody@example.com", full_name="Eva Ríos")
    add_lead(engine, 4, 1, score=90, email=None, full_name="Sin Correo")
    smtp.script["busy@example.com"] = ["451", "ok"]
    smtp.script["nobody@example.com"] = ["550"]
    cid = add_campaign(engine, broker_id=1, channel="email", trigger_type="LEAD_SCORE", trigger_config={"threshold": 70},
                       steps=[{"action": "send_message", "message_template_id": 20}])

    assert run_dag(T0).state == "success"
    assert sorted((r[0], r[3], r[4]) for r in logs(engine, cid)) == [
        (1, "SENT", None), (2, "SENT", None),
        (3, "FAILED", "provider_error: smtp 550 (RCPT TO): 5.1.1 <nobody@example.com>: Recipient address rejected: "
                      "User unknown"),
        (4, "FAILED", "no_email_address")]
    got = {m["To"]: m for m in smtp.received}
    assert sorted(got) == ["ana@example.com", "busy@example.com"]
    ana = got["ana@example.com"]
    assert ana["Subject"] == "Ana, tu casa en Inmobiliaria Sol"
    assert ana["Message-ID"] == f"<campaign-{cid}.lead-1.step-1@sol.test>"
    assert ana["List-Unsubscribe"] == f"<{unsubscribe_links.url(1, cid, 1)}>"
    assert unsubscribe_links.url(1, cid, 1) in ana.get_content()
    assert [r[4] for r in delivery_rows(engine)] == ["sent", "sent", "failed"]
    assert_stats_match_logs(engine)


def test_wrong_twilio_credentials_fail_the_task_before_any_step_and_the_steps_wait(
        engine, broker, twilio, twilio_channel, run_dag, no_retries, monkeypatch):
    conn = twilio_channel("sms")
    add_template(engine, 10, 1, "sms", body="Hola {{ lead.first_name }}")
    add_lead(engine, 1, 1, score=90, phone="+525512340001")
    cid = add_campaign(engine, broker_id=1, channel="sms", trigger_type="LEAD_SCORE", trigger_config={"threshold": 70},
                       steps=[{"action": "send_message", "message_template_id": 10}])
    twilio.auth_token = "rotated-token-the-connection-lacks"
    run = run_dag(T0)
    assert run.state == "failed"
    assert task_states(run)["execute_chunk[0]"] == "failed"
    assert logs(engine, cid) == [] and twilio.messages == []
    twilio.auth_token = conn["password"]  # the broker fixes the connection
    assert run_dag(hours(1)).state == "success"
    assert [(r[0], r[3]) for r in logs(engine, cid)] == [(1, "SENT")] and len(twilio.messages) == 1
