"""Campaign options through the admin API (CONTRACT §6): quiet hours, goals, PATCH, preview, frequency caps."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.api.conftest import API, CAMPAIGN, active_campaign, add_step, new_campaign, set_status, table_counts

QUIET = {"start": "21:00", "end": "09:00"}


def test_a_campaign_with_quiet_hours_and_a_goal_reads_back(client, db):
    c = new_campaign(client, quiet_hours=QUIET, goal={"stages": ["won", "lost"]})
    assert (c["quiet_hours"], c["goal"]) == (QUIET, {"stages": ["won", "lost"]})
    assert client.get(f"{API}/campaigns/{c['id']}").json()["quiet_hours"] == QUIET


OPTION_ERRORS = [
    ({"quiet_hours": {"start": "9:00", "end": "18:00"}}, "quiet_hours.start"),
    ({"quiet_hours": {"start": "21:00", "end": "24:00"}}, "quiet_hours.end"),
    ({"quiet_hours": {"start": "21:00", "end": "21:00"}}, "quiet_hours.end"),
    ({"quiet_hours": {"start": "21:00"}}, "quiet_hours.end"),
    ({"quiet_hours": {"start": "21:00", "end": "09:00", "tz": "UTC"}}, "quiet_hours.tz"),
    ({"quiet_hours": "21-09"}, "quiet_hours"),
    ({"goal": {"stages": []}}, "goal.stages"),
    ({"goal": {"stages": ["won", "won"]}}, "goal.stages"),
    ({"goal": {"stages": [" "]}}, "goal.stages[0]"),
    ({"goal": {"stages": ["closed"]}}, "goal.stages[0]"),  # not in broker 1's pipeline
    ({"goal": {"stage": "won"}}, "goal.stage"),
]


@pytest.mark.parametrize("fields, field", OPTION_ERRORS)
def test_option_errors_on_create_and_patch_name_the_field_and_write_nothing(client, db, fields, field):
    before = table_counts(db)
    r = client.post(f"{API}/campaigns", json={**CAMPAIGN, **fields})
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]], r.json()
    assert table_counts(db) == before
    c = new_campaign(client)
    before = table_counts(db)
    r = client.patch(f"{API}/campaigns/{c['id']}", json=fields)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]], r.json()
    assert table_counts(db) == before


def test_patch_changes_only_what_it_names_and_null_turns_an_option_off(client, db):
    c = active_campaign(client, quiet_hours=QUIET, max_contacts=3)
    r = client.patch(f"{API}/campaigns/{c['id']}", json={"name": "Nuevo nombre", "goal": {"stages": ["won"]},
                                                        "trigger_config": {"threshold": 80}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["name"], body["goal"], body["trigger_config"], body["quiet_hours"], body["max_contacts"], body["status"]) \
        == ("Nuevo nombre", {"stages": ["won"]}, {"threshold": 80}, QUIET, 3, "ACTIVE")
    r = client.patch(f"{API}/campaigns/{c['id']}", json={"quiet_hours": None, "max_contacts": None})
    assert (r.json()["quiet_hours"], r.json()["max_contacts"], r.json()["goal"]) == (None, None, {"stages": ["won"]})


@pytest.mark.parametrize("body, field", [
    ({}, "body"), ({"name": None}, "name"), ({"name": " "}, "name"), ({"trigger_config": None}, "trigger_config"),
    ({"trigger_config": {"threshold": 101}}, "trigger_config.threshold"),
    ({"trigger_config": {"days": 3}}, "trigger_config.threshold"), ({"status": "ACTIVE"}, "status"),
    ({"trigger_type": "MANUAL"}, "trigger_type"), ({"channel": "sms"}, "channel"), ({"max_contacts": -1}, "max_contacts"),
])
def test_patch_refuses_what_it_cannot_change(client, db, body, field):
    c = new_campaign(client)
    before = table_counts(db)
    r = client.patch(f"{API}/campaigns/{c['id']}", json=body)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]], r.json()
    assert table_counts(db) == before


def test_patch_checks_a_stage_change_trigger_against_the_brokers_pipeline_and_archived_is_final(client, db):
    c = new_campaign(client, trigger_type="STAGE_CHANGE", trigger_config={"to_stage": "qualified"})
    r = client.patch(f"{API}/campaigns/{c['id']}", json={"trigger_config": {"to_stage": "closing"}})
    assert r.status_code == 422 and "not in broker 1's pipeline" in r.json()["detail"]
    add_step(client, c["id"])
    assert set_status(client, c["id"], "ARCHIVED").status_code == 200
    r = client.patch(f"{API}/campaigns/{c['id']}", json={"name": "otra"})
    assert r.status_code == 409 and "ARCHIVED" in r.json()["detail"]
    assert client.patch(f"{API}/campaigns/99999", json={"name": "x"}).status_code == 404


def test_preview_counts_who_would_enrol_renders_the_first_message_and_writes_nothing(client, db):
    c = new_campaign(client, trigger_config={"threshold": 70})  # a DRAFT
    add_step(client, c["id"])
    with db.begin() as conn:  # lead 102 (score 40) does not match; 103 was set aside at its last validation
        conn.execute(text("INSERT INTO leads (id, broker_id, full_name, phone, stage, score) "
                          "VALUES (103, 1, 'Rosa', '+34600000003', 'new', 99)"))
        conn.execute(text("INSERT INTO lead_snapshots (lead_id, broker_id, stage, captured_at, rejected) "
                          "VALUES (103, 1, 'new', now(), true)"))
    before = table_counts(db)
    r = client.post(f"{API}/campaigns/{c['id']}/preview")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["would_enrol"], body["first_message_step"]) == (1, 1)
    [sample] = body["samples"]
    assert (sample["lead_id"], sample["body"], sample["recipient"]) == (101, "Hola Ana", "+34600000001")
    assert table_counts(db) == before


def test_preview_of_a_manual_campaign_says_why_it_enrols_nobody(client, db):
    c = new_campaign(client, trigger_type="MANUAL", trigger_config={})
    body = client.post(f"{API}/campaigns/{c['id']}/preview").json()
    assert body["would_enrol"] == 0 and "apply-to-lead" in body["note"]


def test_frequency_caps_are_replaced_per_broker_and_validated(client, client_for, db):
    r = client.put(f"{API}/brokers/1/frequency-caps", json={"caps": [
        {"channel": "whatsapp", "max_contacts": 2, "per_hours": 24}, {"channel": None, "max_contacts": 5,
                                                                        "per_hours": 168}]})
    assert r.status_code == 200, r.text
    assert client.get(f"{API}/brokers/1/frequency-caps").json() == [
        {"broker_id": 1, "channel": None, "max_contacts": 5, "per_hours": 168},
        {"broker_id": 1, "channel": "whatsapp", "max_contacts": 2, "per_hours": 24}]
    for bad, field in (({"caps": [{"channel": "fax", "max_contacts": 1, "per_hours": 1}]}, "caps.0.channel"),
                       ({"caps": [{"max_contacts": 1, "per_hours": 0}]}, "caps.0.per_hours"),
                       ({"caps": [{"channel": "sms", "max_contacts": 1, "per_hours": 1}] * 2}, "caps")):
        r = client.put(f"{API}/brokers/1/frequency-caps", json=bad)
        assert r.status_code == 422 and field in [e["field"] for e in r.json()["errors"]], r.text
    assert client_for("bob-token").put(f"{API}/brokers/1/frequency-caps", json={"caps": []}).status_code == 403
    assert len(client.get(f"{API}/brokers/1/frequency-caps").json()) == 2
