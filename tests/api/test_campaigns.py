"""The admin API against real PostgreSQL through HTTP: campaigns, steps, status, apply-to-lead."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import text

from tests.api.conftest import (
    API,
    CAMPAIGN,
    active_campaign,
    add_step,
    new_campaign,
    set_status,
    table_counts,
)

STATUSES = ("DRAFT", "ACTIVE", "PAUSED", "ARCHIVED")
LEGAL = {("DRAFT", "ACTIVE"), ("ACTIVE", "PAUSED"), ("PAUSED", "ACTIVE"),
         ("DRAFT", "ARCHIVED"), ("ACTIVE", "ARCHIVED"), ("PAUSED", "ARCHIVED")}


def force_status(db, campaign_id: int, status: str) -> None:
    with db.begin() as conn:
        conn.execute(text("UPDATE campaigns SET status = :s WHERE id = :id"), {"s": status, "id": campaign_id})


# -- create / read ----------------------------------------------------------------------------------


def test_create_campaign_is_draft_and_readable(client, db):
    r = client.post(f"{API}/campaigns", json={**CAMPAIGN, "max_contacts": 3})
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["status"] == "DRAFT"
    assert c["broker_id"] == 1  # alice administers only broker 1
    assert (c["name"], c["channel"], c["trigger_type"]) == ("Leads calientes", "whatsapp", "LEAD_SCORE")
    assert c["trigger_config"] == {"threshold": 70}
    assert c["max_contacts"] == 3
    assert c["created_at"] and c["updated_at"]
    assert r.headers["location"].endswith(f"{API}/campaigns/{c['id']}")

    detail = client.get(f"{API}/campaigns/{c['id']}")
    assert detail.status_code == 200
    d = detail.json()
    assert d["steps"] == []
    assert d["stats"] == {"sent": 0, "failed": 0, "skipped": 0, "updated_at": None}
    assert d["enrolments"] == {"active": 0, "completed": 0, "stopped": 0, "error": 0}
    with db.connect() as conn:
        row = conn.execute(text("SELECT status, trigger_config, broker_id FROM campaigns WHERE id = :id"), {"id": c["id"]}).one()
    assert tuple(row) == ("DRAFT", {"threshold": 70}, 1)


@pytest.mark.parametrize(
    "trigger_type, trigger_config",
    [("LEAD_SCORE", {"threshold": 0}), ("LEAD_SCORE", {"threshold": 100}), ("STAGE_CHANGE", {"to_stage": "qualified"}),
     ("INACTIVITY", {"days": 14}), ("MANUAL", {})],
)
def test_every_trigger_type(client, trigger_type, trigger_config):
    c = new_campaign(client, trigger_type=trigger_type, trigger_config=trigger_config, channel="sms")
    assert (c["trigger_type"], c["trigger_config"]) == (trigger_type, trigger_config)


def test_manual_campaign_config_defaults_to_empty_and_name_is_trimmed(client):
    r = client.post(f"{API}/campaigns", json={"name": "  Manual  ", "channel": "email", "trigger_type": "MANUAL"})
    assert r.status_code == 201, r.text
    assert r.json()["trigger_config"] == {} and r.json()["name"] == "Manual"
    assert r.json()["max_contacts"] is None


def test_broker_id_defaults_only_for_single_broker_admins(client_for, db):
    mia = client_for("mia-token")  # brokers 1 and 2
    before = table_counts(db)
    r = mia.post(f"{API}/campaigns", json=CAMPAIGN)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "broker_id"
    assert "several brokers" in r.json()["detail"]
    assert table_counts(db) == before
    r = mia.post(f"{API}/campaigns", json={**CAMPAIGN, "broker_id": 2})
    assert r.status_code == 201 and r.json()["broker_id"] == 2


def test_creating_for_another_broker_is_forbidden(client, db):
    before = table_counts(db)
    r = client.post(f"{API}/campaigns", json={**CAMPAIGN, "broker_id": 2})
    assert r.status_code == 403
    assert "not an admin of broker 2" in r.json()["detail"]
    assert table_counts(db) == before


def test_detail_shows_steps_in_order_stats_and_enrolments(client, db):
    c = new_campaign(client)
    add_step(client, c["id"], step_number=3, action="update_stage", message_template_id=None, config={"stage": "contacted"})
    add_step(client, c["id"], step_number=1, delay_hours=1.5, conditions={"has_phone": {"eq": True}})
    add_step(client, c["id"], step_number=2, action="make_call", message_template_id=None, delay_hours=24)
    with db.begin() as conn:
        conn.execute(text("INSERT INTO campaign_stats (campaign_id, sent, failed, skipped, updated_at) VALUES (:id, 5, 1, 2, now())"), {"id": c["id"]})
        conn.execute(
            text("INSERT INTO campaign_enrolments (campaign_id, lead_id, broker_id, enrolled_at, status) VALUES "
                 "(:id, 101, 1, now(), 'ACTIVE'), (:id, 102, 1, now(), 'COMPLETED')"),
            {"id": c["id"]},
        )
    d = client.get(f"{API}/campaigns/{c['id']}").json()
    assert [s["step_number"] for s in d["steps"]] == [1, 2, 3]
    assert [s["action"] for s in d["steps"]] == ["send_message", "make_call", "update_stage"]
    assert d["steps"][0]["delay_hours"] == 1.5 and d["steps"][0]["conditions"] == {"has_phone": {"eq": True}}
    assert d["steps"][2]["config"] == {"stage": "contacted"}
    assert {k: d["stats"][k] for k in ("sent", "failed", "skipped")} == {"sent": 5, "failed": 1, "skipped": 2}
    assert d["stats"]["updated_at"] is not None
    assert d["enrolments"] == {"active": 1, "completed": 1, "stopped": 0, "error": 0}


def test_list_is_paginated_filtered_and_scoped(client, client_for, db):
    ids = [new_campaign(client, name=f"c{i}")["id"] for i in range(5)]
    other = new_campaign(client_for("bob-token"), name="bob's")  # broker 2
    set_status(client, ids[0], "ARCHIVED")

    page = client.get(f"{API}/campaigns", params={"limit": 2, "offset": 2}).json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 2
    assert [c["id"] for c in page["items"]] == ids[2:4]
    everything = client.get(f"{API}/campaigns").json()
    assert [c["id"] for c in everything["items"]] == ids  # never bob's
    assert other["id"] not in [c["id"] for c in everything["items"]]
    drafts = client.get(f"{API}/campaigns", params={"status": "DRAFT"}).json()
    assert drafts["total"] == 4 and ids[0] not in [c["id"] for c in drafts["items"]]
    assert client.get(f"{API}/campaigns", params={"status": "ARCHIVED"}).json()["total"] == 1
    assert client.get(f"{API}/campaigns", params={"offset": 10}).json()["items"] == []
    # a broker filter outside the caller's brokers matches nothing
    assert client.get(f"{API}/campaigns", params={"broker_id": 2}).json()["total"] == 0
    mia = client_for("mia-token")
    assert mia.get(f"{API}/campaigns").json()["total"] == 6
    assert [c["id"] for c in mia.get(f"{API}/campaigns", params={"broker_id": 2}).json()["items"]] == [other["id"]]


def test_unknown_campaign_is_404(client):
    for method, path in [("get", "/campaigns/999"), ("post", "/campaigns/999/status"), ("post", "/campaigns/999/steps"),
                         ("put", "/campaigns/999/steps/1"), ("delete", "/campaigns/999/steps/1"),
                         ("post", "/campaigns/999/apply-to-lead/101")]:
        body = {"status": "ACTIVE"} if path.endswith("status") else (
            {"action": "make_call"} if method == "put" else {"step_number": 1, "action": "make_call"})
        r = client.request(method.upper(), f"{API}{path}", json=body if method in ("post", "put") else None)
        assert r.status_code == 404, (method, path, r.text)
        assert "campaign 999 not found" in r.json()["detail"]


# -- steps ------------------------------------------------------------------------------------------


def test_add_step_returns_it(client):
    c = new_campaign(client)
    r = client.post(f"{API}/campaigns/{c['id']}/steps", json={
        "step_number": 1, "action": "send_message", "delay_hours": 2, "message_template_id": 11,
        "conditions": {"score": {"gte": 60}, "stage": {"in": ["new", "contacted"]}}, "config": {"note": "hola"}})
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["campaign_id"] == c["id"] and s["step_number"] == 1 and s["action"] == "send_message"
    assert s["delay_hours"] == 2 and s["message_template_id"] == 11
    assert s["conditions"] == {"score": {"gte": 60}, "stage": {"in": ["new", "contacted"]}}
    assert s["config"] == {"note": "hola"}


def test_duplicate_step_number_is_409(client, db):
    c = new_campaign(client)
    add_step(client, c["id"])
    before = table_counts(db)
    r = client.post(f"{API}/campaigns/{c['id']}/steps", json={"step_number": 1, "action": "make_call"})
    assert r.status_code == 409 and "already has a step 1" in r.json()["detail"]
    assert table_counts(db) == before


def test_draft_steps_can_be_replaced_and_deleted(client):
    c = new_campaign(client)
    add_step(client, c["id"], step_number=1)
    add_step(client, c["id"], step_number=2, action="make_call", message_template_id=None)
    r = client.put(f"{API}/campaigns/{c['id']}/steps/2", json={"action": "update_stage", "config": {"stage": "won"}, "delay_hours": 48})
    assert r.status_code == 200, r.text
    assert (r.json()["action"], r.json()["config"], r.json()["delay_hours"]) == ("update_stage", {"stage": "won"}, 48)
    r = client.delete(f"{API}/campaigns/{c['id']}/steps/1")
    assert r.status_code == 204 and r.content == b""
    steps = client.get(f"{API}/campaigns/{c['id']}").json()["steps"]
    assert [(s["step_number"], s["action"]) for s in steps] == [(2, "update_stage")]
    assert client.delete(f"{API}/campaigns/{c['id']}/steps/1").status_code == 404
    assert client.put(f"{API}/campaigns/{c['id']}/steps/7", json={"action": "make_call"}).status_code == 404


@pytest.mark.parametrize("live_status", ["ACTIVE", "PAUSED"])
def test_live_campaign_steps_are_append_only(client, db, live_status):
    c = active_campaign(client)  # step 1
    add_step(client, c["id"], step_number=3, action="make_call", message_template_id=None)  # append while ACTIVE
    if live_status == "PAUSED":
        assert set_status(client, c["id"], "PAUSED").status_code == 200
    before = table_counts(db)

    for n in (1, 2, 3):  # taken, a gap before the last one, the last one
        r = client.post(f"{API}/campaigns/{c['id']}/steps", json={"step_number": n, "action": "make_call"})
        assert r.status_code == 409, (n, r.text)
    r = client.post(f"{API}/campaigns/{c['id']}/steps", json={"step_number": 2, "action": "make_call"})
    assert f"is {live_status}: steps can only be appended after the last one (step_number > 3)" in r.json()["detail"]
    r = client.put(f"{API}/campaigns/{c['id']}/steps/1", json={"action": "make_call"})
    assert r.status_code == 409 and "existing steps cannot be changed" in r.json()["detail"]
    r = client.delete(f"{API}/campaigns/{c['id']}/steps/3")
    assert r.status_code == 409 and "existing steps cannot be deleted" in r.json()["detail"]
    assert table_counts(db) == before

    r = client.post(f"{API}/campaigns/{c['id']}/steps", json={"step_number": 4, "action": "update_stage", "config": {"stage": "qualified"}})
    assert r.status_code == 201, r.text
    assert [s["step_number"] for s in client.get(f"{API}/campaigns/{c['id']}").json()["steps"]] == [1, 3, 4]


def test_appending_to_a_live_campaign_checks_the_template_now(client, db):
    c = active_campaign(client)
    before = table_counts(db)
    r = client.post(f"{API}/campaigns/{c['id']}/steps", json={"step_number": 2, "action": "send_message", "message_template_id": 12})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "message_template_id"
    assert "inactive" in r.json()["detail"]
    assert table_counts(db) == before


def test_archived_campaign_steps_are_frozen(client, db):
    c = new_campaign(client)
    add_step(client, c["id"])
    assert set_status(client, c["id"], "ARCHIVED").status_code == 200
    before = table_counts(db)
    r = client.post(f"{API}/campaigns/{c['id']}/steps", json={"step_number": 2, "action": "make_call"})
    assert r.status_code == 409 and "ARCHIVED" in r.json()["detail"]
    assert client.put(f"{API}/campaigns/{c['id']}/steps/1", json={"action": "make_call"}).status_code == 409
    assert client.delete(f"{API}/campaigns/{c['id']}/steps/1").status_code == 409
    assert table_counts(db) == before


@pytest.mark.parametrize(
    "template_id, problem",
    [(999, "does not exist for broker 1"), (21, "does not exist for broker 1"),  # 21 belongs to broker 2
     (12, "inactive"), (13, "is for channel email")],
)
def test_step_template_must_be_usable(client, db, template_id, problem):
    c = new_campaign(client)
    before = table_counts(db)
    r = client.post(f"{API}/campaigns/{c['id']}/steps", json={**{"step_number": 1, "action": "send_message"}, "message_template_id": template_id})
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "message_template_id", "message": r.json()["detail"], "type": "invalid_field"}]
    assert problem in r.json()["detail"]
    assert table_counts(db) == before


# -- status -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("current, target", list(itertools.product(STATUSES, STATUSES)))
def test_status_transitions(client, db, current, target):
    c = new_campaign(client)
    add_step(client, c["id"])
    force_status(db, c["id"], current)
    before = table_counts(db)
    r = set_status(client, c["id"], target)
    if (current, target) in LEGAL:
        assert r.status_code == 200, r.text
        assert r.json()["status"] == target
        assert client.get(f"{API}/campaigns/{c['id']}").json()["status"] == target
    else:
        assert r.status_code == 409, r.text
        assert f"cannot change status from {current} to {target}" in r.json()["detail"]
        assert table_counts(db) == before


def test_full_lifecycle(client):
    c = new_campaign(client)
    add_step(client, c["id"])
    for target in ("ACTIVE", "PAUSED", "ACTIVE", "PAUSED", "ARCHIVED"):
        r = set_status(client, c["id"], target)
        assert r.status_code == 200 and r.json()["status"] == target
    assert set_status(client, c["id"], "ACTIVE").status_code == 409


def test_activation_needs_steps(client, db):
    c = new_campaign(client)
    before = table_counts(db)
    r = set_status(client, c["id"], "ACTIVE")
    assert r.status_code == 409
    assert "cannot be activated: it has no steps" in r.json()["detail"]
    assert table_counts(db) == before


@pytest.mark.parametrize(
    "change, problem",
    [("DELETE FROM message_templates WHERE id = 11", "message template 11 does not exist for broker 1"),
     ("UPDATE message_templates SET broker_id = 2 WHERE id = 11", "message template 11 does not exist for broker 1"),
     ("UPDATE message_templates SET is_active = false WHERE id = 11", "message template 11 is inactive"),
     ("UPDATE message_templates SET channel = 'sms' WHERE id = 11", "message template 11 is for channel sms")],
)
@pytest.mark.parametrize("start", ["DRAFT", "PAUSED"])
def test_activation_checks_send_message_templates(client, db, change, problem, start):
    c = new_campaign(client)
    add_step(client, c["id"], step_number=1, action="make_call", message_template_id=None)
    add_step(client, c["id"], step_number=2, message_template_id=11)
    force_status(db, c["id"], start)
    with db.begin() as conn:  # the CRM changes the template after the step was written
        conn.execute(text(change))
    before = table_counts(db)
    r = set_status(client, c["id"], "ACTIVE")
    assert r.status_code == 409
    assert f"cannot be activated: step 2: {problem}" in r.json()["detail"]
    assert table_counts(db) == before


def test_activation_lists_every_bad_step(client, db):
    c = new_campaign(client)
    add_step(client, c["id"], step_number=1)
    add_step(client, c["id"], step_number=2)
    with db.begin() as conn:
        conn.execute(text("UPDATE message_templates SET is_active = false WHERE id = 11"))
    detail = set_status(client, c["id"], "ACTIVE").json()["detail"]
    assert "step 1: message template 11 is inactive" in detail and "step 2:" in detail


# -- apply to lead ----------------------------------------------------------------------------------


def test_apply_to_lead_starts_a_dag_run(client, db, trigger):
    c = active_campaign(client)
    before = table_counts(db)
    r = client.post(f"{API}/campaigns/{c['id']}/apply-to-lead/101")
    assert r.status_code == 202, r.text
    body = r.json()
    assert body == {"dag_id": "campaign_executor", "dag_run_id": "manual__test_1", "dag_is_paused": False,
                    "campaign_id": c["id"], "lead_id": 101, "conf": {"campaign_id": c["id"], "lead_id": 101}}
    assert trigger.calls == [("campaign_executor", {"campaign_id": c["id"], "lead_id": 101}, "alice")]
    assert table_counts(db) == before  # the DAG run does the work, not the API


@pytest.mark.parametrize("lead_id", [999, 201])  # unknown; another broker's lead
def test_apply_to_unknown_or_foreign_lead_is_404(client, trigger, lead_id):
    c = active_campaign(client)
    r = client.post(f"{API}/campaigns/{c['id']}/apply-to-lead/{lead_id}")
    assert r.status_code == 404 and f"lead {lead_id} not found" in r.json()["detail"]
    assert trigger.calls == []


@pytest.mark.parametrize("status", ["DRAFT", "PAUSED", "ARCHIVED"])
def test_apply_needs_an_active_campaign(client, db, trigger, status):
    c = new_campaign(client)
    add_step(client, c["id"])
    force_status(db, c["id"], status)
    r = client.post(f"{API}/campaigns/{c['id']}/apply-to-lead/101")
    assert r.status_code == 409 and f"is {status}: only ACTIVE campaigns" in r.json()["detail"]
    assert trigger.calls == []


def test_apply_when_the_dag_is_unavailable_is_503(client, trigger):
    c = active_campaign(client)
    trigger.fail = True
    r = client.post(f"{API}/campaigns/{c['id']}/apply-to-lead/101")
    assert r.status_code == 503 and "not known to Airflow" in r.json()["detail"]


def test_openapi_is_served_and_describes_the_endpoints(client):
    spec = client.get(f"{API}/openapi.json").json()
    paths = spec["paths"]
    assert set(paths) == {
        f"{API}/campaigns", f"{API}/campaigns/{{campaign_id}}", f"{API}/campaigns/{{campaign_id}}/status",
        f"{API}/campaigns/{{campaign_id}}/steps", f"{API}/campaigns/{{campaign_id}}/steps/{{step_number}}",
        f"{API}/campaigns/{{campaign_id}}/apply-to-lead/{{lead_id}}", f"{API}/enrolments",
        f"{API}/campaigns/{{campaign_id}}/enrolments/{{lead_id}}/retry", f"{API}/campaigns/{{campaign_id}}/preview",
        f"{API}/brokers/{{broker_id}}/frequency-caps",
        f"{API}/webhooks/twilio/status", f"{API}/webhooks/twilio/inbound", f"{API}/unsubscribe/{{token}}",
        f"{API}/analytics/campaigns", f"{API}/analytics/campaigns.csv", f"{API}/analytics/campaigns/{{campaign_id}}",
        f"{API}/analytics/campaigns/{{campaign_id}}/{{part}}.csv",
    }
    assert set(paths[f"{API}/campaigns"]["post"]["responses"]) >= {"201", "401", "403", "422"}
    assert paths[f"{API}/campaigns"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/CampaignOut")
    assert set(paths[f"{API}/campaigns/{{campaign_id}}/apply-to-lead/{{lead_id}}"]["post"]["responses"]) >= {"202", "401", "403", "404", "409"}
    assert set(paths[f"{API}/campaigns/{{campaign_id}}/status"]["post"]["responses"]) >= {"200", "404", "409", "422"}
    assert "AirflowJWT" in spec["components"]["securitySchemes"]
    assert client.get(f"{API}/docs").status_code == 200


def test_concurrent_requests_for_the_same_step_number(app, client, db):
    """The campaign row lock serialises writers: one request wins, the other gets a clean 409."""
    import threading

    from fastapi.testclient import TestClient

    c = new_campaign(client)
    results: list[int] = []
    barrier = threading.Barrier(4)

    def post() -> None:
        with TestClient(app, headers={"Authorization": "Bearer alice-token"}, raise_server_exceptions=False) as tc:
            barrier.wait(timeout=10)
            r = tc.post(f"{API}/campaigns/{c['id']}/steps", json={"step_number": 1, "action": "make_call"})
            results.append(r.status_code)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == [201, 409, 409, 409]
    assert len(client.get(f"{API}/campaigns/{c['id']}").json()["steps"]) == 1
