"""Every validation error: 422, a message naming the field, nothing written."""

from __future__ import annotations

import pytest

from tests.api.conftest import API, CAMPAIGN, PIPELINE_1, add_step, new_campaign, table_counts

LONG = "x" * 201
C = CAMPAIGN

# (body, field the error must name)
CAMPAIGN_ERRORS = [  # broker 1 (alice) has its own pipeline: tests/api/conftest.py PIPELINE_1
    ({k: v for k, v in C.items() if k != "name"}, "name"),
    ({**C, "name": ""}, "name"),
    ({**C, "name": "   "}, "name"),
    ({**C, "name": LONG}, "name"),
    ({**C, "name": "a\x00b"}, "name"),
    ({**C, "name": 7}, "name"),
    ({**C, "channel": "fax"}, "channel"),
    ({k: v for k, v in C.items() if k != "channel"}, "channel"),
    ({**C, "trigger_type": "SCORE"}, "trigger_type"),
    ({**C, "trigger_type": "lead_score"}, "trigger_type"),
    ({**C, "trigger_config": {}}, "trigger_config.threshold"),
    ({k: v for k, v in C.items() if k != "trigger_config"}, "trigger_config.threshold"),
    ({**C, "trigger_config": {"threshold": 101}}, "trigger_config.threshold"),
    ({**C, "trigger_config": {"threshold": -1}}, "trigger_config.threshold"),
    ({**C, "trigger_config": {"threshold": "70"}}, "trigger_config.threshold"),
    ({**C, "trigger_config": {"threshold": 70.5}}, "trigger_config.threshold"),
    ({**C, "trigger_config": {"threshold": True}}, "trigger_config.threshold"),
    ({**C, "trigger_config": {"threshold": 70, "days": 3}}, "trigger_config.days"),
    ({**C, "trigger_config": [70]}, "trigger_config"),
    ({**C, "trigger_type": "STAGE_CHANGE", "trigger_config": {"to_stage": "closed"}}, "trigger_config.to_stage"),
    ({**C, "trigger_type": "STAGE_CHANGE", "trigger_config": {"threshold": 70}}, "trigger_config.to_stage"),
    ({**C, "trigger_type": "INACTIVITY", "trigger_config": {"days": 0}}, "trigger_config.days"),
    ({**C, "trigger_type": "INACTIVITY", "trigger_config": {"days": 1.5}}, "trigger_config.days"),
    ({**C, "trigger_type": "INACTIVITY", "trigger_config": {"days": 36501}}, "trigger_config.days"),
    ({**C, "trigger_type": "MANUAL", "trigger_config": {"threshold": 70}}, "trigger_config.threshold"),
    ({**C, "trigger_config": {"threshold": 70, "note": "a\x00"}}, "trigger_config.note"),
    ({**C, "max_contacts": -1}, "max_contacts"),
    ({**C, "max_contacts": "3"}, "max_contacts"),
    ({**C, "max_contacts": 2.5}, "max_contacts"),
    ({**C, "max_contacts": 2**31}, "max_contacts"),
    ({**C, "broker_id": 0}, "broker_id"),
    ({**C, "broker_id": "1"}, "broker_id"),
    ({**C, "broker_id": 2**63}, "broker_id"),
    ({**C, "status": "ACTIVE"}, "status"),  # a new campaign is always DRAFT
    ({**C, "colour": "red"}, "colour"),
    ([C], "body"),
    ("not an object", "body"),
]


@pytest.mark.parametrize("body, field", CAMPAIGN_ERRORS)
def test_campaign_body_errors(client, db, body, field):
    before = table_counts(db)
    r = client.post(f"{API}/campaigns", json=body)
    assert r.status_code == 422, r.text
    payload = r.json()
    assert field in [e["field"] for e in payload["errors"]], payload
    assert all(e["message"].startswith(f"{e['field']}: ") for e in payload["errors"])
    assert field in payload["detail"]
    assert table_counts(db) == before


@pytest.mark.parametrize("raw", [b"{", b"", b'{"name": "x", "channel": "sms", "trigger_type": "MANUAL",}'])
def test_malformed_json(client, db, raw):
    before = table_counts(db)
    r = client.post(f"{API}/campaigns", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "body"
    assert table_counts(db) == before


def test_non_finite_numbers_are_refused(client, db):
    c = new_campaign(client)
    before = table_counts(db)
    for raw in (b'{"step_number": 1, "action": "make_call", "delay_hours": NaN}',
                b'{"step_number": 1, "action": "make_call", "config": {"x": Infinity}}',
                b'{"step_number": 1, "action": "make_call", "conditions": {"score": {"gt": -Infinity}}}'):
        r = client.post(f"{API}/campaigns/{c['id']}/steps", content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, r.text
    assert table_counts(db) == before


def test_lone_surrogates_are_refused(client, db):
    before = table_counts(db)
    raw = b'{"name": "bad \\ud800 name", "channel": "sms", "trigger_type": "MANUAL"}'
    r = client.post(f"{API}/campaigns", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name"
    assert table_counts(db) == before


S = {"step_number": 1, "action": "send_message", "message_template_id": 11}
MC = {"step_number": 1, "action": "make_call"}
STEP_ERRORS = [
    ({k: v for k, v in S.items() if k != "step_number"}, "step_number"),
    ({**S, "step_number": 0}, "step_number"),
    ({**S, "step_number": -3}, "step_number"),
    ({**S, "step_number": "1"}, "step_number"),
    ({**S, "step_number": 2**31}, "step_number"),
    ({**S, "action": "email_blast"}, "action"),
    ({k: v for k, v in S.items() if k != "action"}, "action"),
    ({**S, "delay_hours": -1}, "delay_hours"),
    ({**S, "delay_hours": 8760.5}, "delay_hours"),
    ({**S, "delay_hours": "2"}, "delay_hours"),
    ({**S, "delay_hours": None}, "delay_hours"),
    ({**S, "message_template_id": None}, "message_template_id"),
    ({k: v for k, v in S.items() if k != "message_template_id"}, "message_template_id"),
    ({**S, "message_template_id": 0}, "message_template_id"),
    ({**S, "message_template_id": "11"}, "message_template_id"),
    ({**MC, "message_template_id": 11}, "message_template_id"),
    ({**MC, "action": "update_stage"}, "config.stage"),
    ({**MC, "action": "update_stage", "config": {"stage": "closed"}}, "config.stage"),
    ({**MC, "action": "update_stage", "config": {"stage": "won", "also": 1}}, "config.also"),
    ({**MC, "config": ["stage"]}, "config"),
    ({**MC, "config": {"note": "nul\x00"}}, "config.note"),
    ({**MC, "conditions": []}, "conditions"),
    ({**MC, "conditions": {"budget": {"gt": 1}}}, "conditions.budget"),
    ({**MC, "conditions": {"score": {}}}, "conditions.score"),
    ({**MC, "conditions": {"score": {"gte": "60"}}}, "conditions.score.gte"),
    ({**MC, "conditions": {"score": {"about": 60}}}, "conditions.score.about"),
    ({**MC, "conditions": {"score": {"in": []}}}, "conditions.score.in"),
    ({**MC, "conditions": {"has_email": {"gt": True}}}, "conditions.has_email.gt"),
    ({**MC, "conditions": {"stage": {"eq": "closed"}}}, "conditions.stage.eq"),
    ({**MC, "conditions": {"stage": {"in": ["new", "closed"]}}}, "conditions.stage.in"),
    ({**MC, "conditions": {"stage": {"eq": 3}}}, "conditions.stage.eq"),
    ({**MC, "id": 5}, "id"),
]


@pytest.mark.parametrize("body, field", STEP_ERRORS)
def test_step_body_errors(client, db, body, field):
    c = new_campaign(client)
    add_step(client, c["id"], step_number=9, action="make_call", message_template_id=None)
    before = table_counts(db)
    r = client.post(f"{API}/campaigns/{c['id']}/steps", json=body)
    assert r.status_code == 422, r.text
    payload = r.json()
    assert field in [e["field"] for e in payload["errors"]], payload
    assert field in payload["detail"]
    assert table_counts(db) == before
    # the same definition (without step_number) is refused by PUT too
    if field != "step_number" and field != "id":
        put = {k: v for k, v in body.items() if k != "step_number"}
        r = client.put(f"{API}/campaigns/{c['id']}/steps/9", json=put)
        assert r.status_code == 422, r.text
        assert field in [e["field"] for e in r.json()["errors"]]
        assert table_counts(db) == before


@pytest.mark.parametrize("body, field", [({"status": "LIVE"}, "status"), ({"status": "active"}, "status"), ({}, "status"),
                                         ({"status": "ACTIVE", "force": True}, "force")])
def test_status_body_errors(client, db, body, field):
    c = new_campaign(client)
    add_step(client, c["id"])
    before = table_counts(db)
    r = client.post(f"{API}/campaigns/{c['id']}/status", json=body)
    assert r.status_code == 422
    assert field in [e["field"] for e in r.json()["errors"]]
    assert table_counts(db) == before


@pytest.mark.parametrize(
    "method, path, field",
    [("GET", "/campaigns/0", "campaign_id"), ("GET", "/campaigns/abc", "campaign_id"),
     ("GET", f"/campaigns/{2**63}", "campaign_id"), ("POST", "/campaigns/1/apply-to-lead/0", "lead_id"),
     ("POST", f"/campaigns/1/apply-to-lead/{2**63}", "lead_id"), ("DELETE", "/campaigns/1/steps/0", "step_number"),
     ("DELETE", f"/campaigns/1/steps/{2**31}", "step_number"),
     ("GET", "/campaigns?limit=0", "limit"), ("GET", "/campaigns?limit=501", "limit"),
     ("GET", "/campaigns?offset=-1", "offset"), ("GET", "/campaigns?status=LIVE", "status"),
     ("GET", "/campaigns?broker_id=x", "broker_id")],
)
def test_path_and_query_errors(client, db, method, path, field):
    before = table_counts(db)
    r = client.request(method, f"{API}{path}")
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]
    assert table_counts(db) == before


def test_all_errors_are_reported_at_once(client):
    r = client.post(f"{API}/campaigns", json={"name": "", "channel": "fax", "trigger_type": "LEAD_SCORE",
                                              "trigger_config": {"threshold": 500}, "max_contacts": -2})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"name", "channel", "trigger_config.threshold", "max_contacts"}
    assert "trigger_type LEAD_SCORE expects" in r.json()["detail"]


# -- stages are the broker's own -------------------------------------------------------------------------

STAGE_NAMING = [  # (where the stage goes, field the 422 names)
    ("campaign", "trigger_config.to_stage"),
    ("update_stage", "config.stage"),
    ("condition_eq", "conditions.stage.eq"),
    ("condition_in", "conditions.stage.not_in"),
]


def _stage_request(client, where: str, stage: str, broker_token_client=None):
    if where == "campaign":
        return client.post(f"{API}/campaigns", json={**CAMPAIGN, "trigger_type": "STAGE_CHANGE",
                                                     "trigger_config": {"to_stage": stage}})
    c = new_campaign(client)
    body = {"step_number": 1, "action": "make_call"}
    if where == "update_stage":
        body = {"step_number": 1, "action": "update_stage", "config": {"stage": stage}}
    elif where == "condition_eq":
        body["conditions"] = {"stage": {"eq": stage}}
    else:
        body["conditions"] = {"stage": {"not_in": ["won", stage]}}
    return client.post(f"{API}/campaigns/{c['id']}/steps", json=body)


@pytest.mark.parametrize("where, field", STAGE_NAMING)
def test_a_stage_outside_the_brokers_pipeline_is_a_422_listing_its_stages(client, db, where, field):
    before = table_counts(db)
    r = _stage_request(client, where, "visit_scheduled")  # a word of other CRMs, not of broker 1's
    assert r.status_code == 422, r.text
    error = next(e for e in r.json()["errors"] if e["field"] == field)
    assert "'visit_scheduled' is not in broker 1's pipeline" in error["message"]
    assert ", ".join(PIPELINE_1) in error["message"]  # the broker's own stages, in pipeline order
    if where == "campaign":
        assert table_counts(db) == before


@pytest.mark.parametrize("where, field", STAGE_NAMING)
def test_a_stage_of_the_brokers_pipeline_is_accepted(client, db, where, field):
    assert _stage_request(client, where, "visita").status_code == 201


@pytest.mark.parametrize("where, field", STAGE_NAMING)
def test_a_broker_without_a_pipeline_accepts_any_non_empty_stage(client_for, db, where, field):
    bob = client_for("bob-token")  # broker 2: no pipeline_stages rows
    assert _stage_request(bob, where, "Cerrado (ganado)").status_code == 201
    r = _stage_request(bob, where, " ") if where != "campaign" else None
    if r is not None:
        assert r.status_code == 422 and field in [e["field"] for e in r.json()["errors"]], r.text


def test_activation_refuses_a_step_whose_stage_left_the_pipeline(client, db):
    c = new_campaign(client)
    add_step(client, c["id"], step_number=1, action="update_stage", message_template_id=None,
             config={"stage": "visita"})
    with db.begin() as conn:  # the CRM renames the stage after the step was written
        conn.exec_driver_sql("UPDATE pipeline_stages SET stage = 'visit' WHERE broker_id = 1 AND stage = 'visita'")
    r = client.post(f"{API}/campaigns/{c['id']}/status", json={"status": "ACTIVE"})
    assert r.status_code == 409
    assert "step 1 config.stage: unknown_stage: 'visita' is not in broker 1's pipeline" in r.json()["detail"]
