"""The plugin inside a real ``airflow api-server``: Airflow's login, Airflow's JWT, Airflow's DAG runs.

Needs dags/campaign_executor.py (the DAG the apply-to-lead endpoint triggers). Runs in a throw-away
AIRFLOW_HOME on a free port; the server is always terminated.
"""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest
from sqlalchemy import text

from include.campaigns.infra.paths import PROJECT_ROOT
from tests.api.conftest import AIRFLOW_USERS
from tests.support.airflow_server import AIRFLOW, api_server

pytestmark = pytest.mark.integration


def _token(http: httpx.Client, username: str) -> str:
    r = http.post("/auth/token", json={"username": username, "password": AIRFLOW_USERS[username]})
    assert r.status_code == 201, r.text
    return r.json()["access_token"]


@pytest.mark.timeout(240)
def test_admin_api_inside_the_airflow_api_server(airflow_home, db):
    assert (PROJECT_ROOT / "dags" / "campaign_executor.py").exists(), "needs dags/campaign_executor.py"
    with db.begin() as conn:
        conn.execute(text("INSERT INTO broker_admins (username, broker_id) VALUES ('admin', 1), ('viewer', 1)"))
    # What the dag-processor would do: parse dags/ and store campaign_executor in the metadata database.
    done = subprocess.run([AIRFLOW, "dags", "reserialize"], env=airflow_home, cwd=airflow_home["AIRFLOW_HOME"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    # Twilio webhooks and unsubscribe links are public routes of the same plugin (their signatures are the auth)
    server_env = {**airflow_home, **_public_route_connections()}
    with api_server(server_env) as base, httpx.Client(base_url=base, timeout=30) as http:
        admin = {"Authorization": f"Bearer {_token(http, 'admin')}"}
        viewer = {"Authorization": f"Bearer {_token(http, 'viewer')}"}
        dag = http.get("/api/v2/dags/campaign_executor", headers=admin)
        assert dag.status_code == 200, f"campaign_executor did not load in Airflow: {dag.text}\n{done.stdout[-2000:]}"

        # Airflow's login and JWT guard the plugin
        assert http.get("/api/v1/campaigns").status_code == 401
        assert http.get("/api/v1/campaigns", headers={"Authorization": "Bearer not-a-jwt"}).status_code == 401
        r = http.get("/api/v1/campaigns", headers=viewer)
        assert r.status_code == 403 and "not an Airflow admin" in r.json()["detail"]

        # The schema is served through the API server, with the mount prefix as its server URL
        spec = http.get("/api/v1/openapi.json").json()
        assert spec["servers"] == [{"url": "/api/v1"}]
        assert "/campaigns/{campaign_id}/apply-to-lead/{lead_id}" in spec["paths"]

        # The use case: create, add steps, activate, apply to a lead
        r = http.post("/api/v1/campaigns", headers=admin, json={
            "name": "Leads calientes", "channel": "whatsapp", "trigger_type": "LEAD_SCORE",
            "trigger_config": {"threshold": 70}, "max_contacts": 2})
        assert r.status_code == 201, r.text
        campaign = r.json()
        assert campaign["status"] == "DRAFT" and campaign["broker_id"] == 1
        cid = campaign["id"]
        r = http.post(f"/api/v1/campaigns/{cid}/steps", headers=admin,
                      json={"step_number": 1, "action": "send_message", "message_template_id": 11})
        assert r.status_code == 201, r.text
        r = http.post(f"/api/v1/campaigns/{cid}/steps", headers=admin,
                      json={"step_number": 2, "action": "update_stage", "delay_hours": 24, "config": {"stage": "contacted"}})
        assert r.status_code == 201, r.text
        r = http.post(f"/api/v1/campaigns/{cid}/status", headers=admin, json={"status": "ACTIVE"})
        assert r.status_code == 200 and r.json()["status"] == "ACTIVE", r.text
        assert http.post(f"/api/v1/campaigns/{cid}/apply-to-lead/201", headers=admin).status_code == 404

        r = http.post(f"/api/v1/campaigns/{cid}/apply-to-lead/101", headers=admin)
        assert r.status_code == 202, r.text
        applied = r.json()
        assert applied["conf"] == {"campaign_id": cid, "lead_id": 101}
        assert isinstance(applied["dag_is_paused"], bool)

        # The DAG run exists in Airflow, with that conf
        run = http.get(f"/api/v2/dags/campaign_executor/dagRuns/{applied['dag_run_id']}", headers=admin)
        assert run.status_code == 200, run.text
        run = run.json()
        assert run["conf"] == {"campaign_id": cid, "lead_id": 101}
        assert run["run_type"] == "manual" and run["state"] == "queued"
        assert run["triggering_user_name"] == "admin"

        detail = http.get(f"/api/v1/campaigns/{cid}", headers=admin).json()
        assert [s["step_number"] for s in detail["steps"]] == [1, 2]
        # Airflow's own API is untouched
        assert http.get("/api/v2/dags", headers=admin).status_code == 200
        _public_routes_answer_without_airflow_login(http, base, db)


def _public_route_connections() -> dict[str, str]:
    from tests.channels.conftest import PUBLIC, UNSUBSCRIBE_SECRET
    from tests.channels.twilio_peer import ACCOUNT_SID, AUTH_TOKEN

    return {"AIRFLOW_CONN_CHANNEL_SMS": json.dumps({"conn_type": "generic", "login": ACCOUNT_SID, "password": AUTH_TOKEN,
                                                    "extra": {"adapter": "twilio", "from": "+15550000001"}}),
            "AIRFLOW_CONN_CAMPAIGNS_UNSUBSCRIBE": json.dumps({"conn_type": "generic", "password": UNSUBSCRIBE_SECRET,
                                                              "extra": {"base_url": PUBLIC}})}


def _public_routes_answer_without_airflow_login(http: httpx.Client, base: str, db) -> None:
    from twilio.request_validator import RequestValidator

    from include.campaigns.channels.unsubscribe import UnsubscribeLinks
    from tests.channels.conftest import PUBLIC, UNSUBSCRIBE_SECRET
    from tests.channels.twilio_peer import ACCOUNT_SID, AUTH_TOKEN

    params = {"AccountSid": ACCOUNT_SID, "MessageSid": "SM" + "e" * 32, "From": "+34600000002", "To": "+15550000001",
              "Body": "STOP"}
    url = f"{base}/api/v1/webhooks/twilio/inbound"
    assert http.post("/api/v1/webhooks/twilio/inbound", data=params).status_code == 403
    r = http.post("/api/v1/webhooks/twilio/inbound", data=params,
                  headers={"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params)})
    assert r.status_code == 200 and "<Response" in r.text, r.text
    link = UnsubscribeLinks(UNSUBSCRIBE_SECRET.encode(), PUBLIC).url(101, 1, 1).removeprefix(PUBLIC)
    assert http.get(link).status_code == 200
    with db.connect() as conn:
        assert conn.execute(text("SELECT id FROM leads WHERE do_not_contact ORDER BY id")).scalars().all() == [101, 102]
