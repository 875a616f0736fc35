"""Bad lead data from the CRM: every rejected row kept with its reasons, the run goes on, and it says how many.

``leads.id`` is the primary key of the CRM table and ``run_leads`` (the staged snapshot) is keyed by
(run_id, lead_id), so a duplicated id cannot reach a run from the database: the tests show both keys
refusing it, and the validation rule that would set duplicates aside if a future feed (a file, an API
page, a join that fans out) produced them.
"""

from __future__ import annotations

import pytest
import sqlalchemy.exc
from sqlalchemy import text

from tests.factories import T0, add_broker, add_campaign, add_lead, add_pipeline, add_template, hours, update_lead
from tests.reliability.conftest import xcom_value
from tests.reliability.world import log_counter, rows, scalar
from tests.support.faults import FAULTS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

BAD = {  # lead id -> (column values, expected reasons)
    10: ({"score": None}, ["score_missing"]),
    11: ({"score": -5}, ["score_out_of_range"]),
    12: ({"score": 150}, ["score_out_of_range"]),
    13: ({"stage": "prospect"}, ["unknown_stage"]),
    14: ({"stage": "Qualified "}, ["unknown_stage"]),
    15: ({"email": "ana@"}, ["malformed_email"]),
    16: ({"email": "ana@example.com\n"}, ["malformed_email"]),
    17: ({"phone": "5512345678"}, ["malformed_phone"]),
    18: ({"phone": "+52 55 1234 5678"}, ["malformed_phone"]),
    19: ({"last_activity_at": hours(24)}, ["activity_in_future"]),
    20: ({"score": 500, "email": "x", "phone": "y", "stage": "??"},
         ["malformed_email", "malformed_phone", "score_out_of_range", "unknown_stage"]),
    21: ({"timezone": "America/Ciudad_de_Mexico"}, ["unknown_timezone"]),
    22: ({"stage": " "}, ["stage_missing", "unknown_stage"]),
}
PIPELINE = ("new", "contacted", "qualified", "visit_scheduled", "won", "lost")  # broker 1's own stages


@pytest.fixture
def world(engine):
    add_broker(engine, 1)
    add_pipeline(engine, 1, PIPELINE)
    add_template(engine, 10, 1, "whatsapp")
    for lead in (1, 2, 3):
        add_lead(engine, lead, score=90, phone=f"+52551234567{lead}", last_activity_at=hours(-2))
    for lead, (values, _reasons) in BAD.items():
        add_lead(engine, lead, score=90, phone=f"+5255123456{lead}")
        update_lead(engine, lead, **values)
    return add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70}, steps=[
        {"action": "send_message", "message_template_id": 10},
        {"action": "update_stage", "delay_hours": 1, "config": {"stage": "contacted"}},
    ])


def test_bad_rows_are_set_aside_with_their_reasons_and_wait_without_being_lost(engine, world, run_dag, invariants):
    cid = world
    run = run_dag(T0)
    assert run.state == "success"
    FAULTS.add("bad_lead_rows", len(BAD))
    assert rows(engine, "SELECT lead_id, reasons FROM lead_rejects ORDER BY lead_id") == [
        (lead, reasons) for lead, (_v, reasons) in BAD.items()]
    assert scalar(engine, "SELECT lead->>'email' FROM lead_rejects WHERE lead_id = 16") == "ana@example.com\n"
    assert scalar(engine, "SELECT counts->'leads_rejected' FROM pipeline_runs") == len(BAD)
    validated = xcom_value(run, "validate_snapshot")
    assert validated["validated"] == 3 + len(BAD) and validated["rejected"] == len(BAD)
    assert validated["reasons"]["score_out_of_range"] == 3 and validated["reasons"]["malformed_phone"] == 3
    assert log_counter(engine, cid) == {(1, "SENT", None): 3}  # the good leads went on
    invariants(at=T0, deferred_leads=BAD)

    # lead 3 goes bad half-way (a CRM edit: updated_at moves): its due step waits while it is rejected,
    # and runs once when fixed; the unchanged bad rows are remembered, not read again
    update_lead(engine, 3, email="broken@", updated_at=hours(0.5))
    assert run_dag(hours(1)).state == "success"
    assert scalar(engine, "SELECT count(*) FROM campaign_logs WHERE lead_id = 3") == 1
    assert scalar(engine, "SELECT counts->>'leads_staged' FROM pipeline_runs WHERE run_at = :t", t=hours(1)) == "1"
    assert rows(engine, "SELECT lead_id FROM lead_rejects WHERE rejected_at = :t", t=hours(1)) == [(3,)]
    assert scalar(engine, "SELECT count(*) FROM lead_snapshots WHERE rejected") == len(BAD) + 1
    assert log_counter(engine, cid)[(2, "SENT", None)] == 2
    invariants(at=hours(1), deferred_leads=[*BAD, 3])
    update_lead(engine, 3, email="ana@example.com", updated_at=hours(1.5))
    assert run_dag(hours(2)).state == "success"
    assert log_counter(engine, cid) == {(1, "SENT", None): 3, (2, "SENT", None): 3}
    assert rows(engine, "SELECT count(*) FROM lead_rejects WHERE lead_id = 3") == [(1,)]
    FAULTS.add("lead_corrupted_mid_way")
    invariants(at=hours(2), deferred_leads=BAD)


def test_a_number_that_goes_bad_without_updated_at_moving_gets_no_message(engine, run_dag, invariants):
    """A bulk fix by the CRM team (plain UPDATE, updated_at untouched) breaks a lead's phone mid-way."""
    add_broker(engine, 1)
    add_template(engine, 10, 1, "whatsapp")
    add_lead(engine, 1, score=90, phone="+525512345671")
    cid = add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70}, steps=[
        {"action": "send_message", "message_template_id": 10},
        {"action": "send_message", "message_template_id": 10, "delay_hours": 1},
    ])
    assert run_dag(T0).state == "success"
    with engine.begin() as c:
        c.execute(text("UPDATE leads SET phone = '55-BROKEN' WHERE id = 1"))
    FAULTS.add("lead_corrupted_mid_way")
    assert run_dag(hours(1)).state == "success"
    sent_to = [r[0] for r in rows(engine, "SELECT recipient FROM outbound_messages ORDER BY id")]
    invariants(at=hours(1), deferred_leads=[1])
    assert sent_to == ["+525512345671"], f"a message went to a malformed number: {sent_to}"
    assert scalar(engine, "SELECT reasons FROM lead_rejects WHERE lead_id = 1") == ["malformed_phone"]
    assert log_counter(engine, cid) == {(1, "SENT", None): 1}


def test_duplicated_ids_cannot_reach_a_run(engine):
    add_lead(engine, 5, score=90)
    with pytest.raises(sqlalchemy.exc.IntegrityError):  # the CRM table: primary key
        add_lead(engine, 5, score=40, email="other@example.com")
    with pytest.raises(sqlalchemy.exc.IntegrityError), engine.begin() as c:  # the staged snapshot: (run, lead) key
        for _ in range(2):
            c.execute(text("INSERT INTO run_leads (run_id, lead_id, broker_id, stage, is_new) "
                           "VALUES ('r', 5, 1, 'new', true)"))
    FAULTS.add("duplicated_ids", 2)


def test_an_apply_to_a_rejected_lead_says_why(engine, run_dag, invariants):
    add_broker(engine, 1)
    add_template(engine, 10, 1, "whatsapp")
    add_lead(engine, 7, score=90, email="not-an-email")
    cid = add_campaign(engine, trigger_type="MANUAL", steps=[{"action": "send_message", "message_template_id": 10}])
    assert run_dag(T0, {"campaign_id": cid, "lead_id": 7}, manual=True).state == "success"
    FAULTS.add("bad_lead_rows")
    invariants(at=T0, deferred_leads=[7])
    [(step, status, reason)] = [(r[0], r[1], r[2]) for r in log_counter(engine, cid)]
    assert (step, status) == (None, "SKIPPED") and "malformed_email" in (reason or ""), reason
