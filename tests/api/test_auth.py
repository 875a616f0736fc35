"""Auth: only authenticated Airflow admins, each scoped to their brokers."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from include.campaigns.api.auth import is_airflow_admin
from include.campaigns.infra.paths import PROJECT_ROOT
from tests.api.conftest import API, active_campaign, add_step, new_campaign, table_counts

# (method, path template, json body) of every endpoint; {c} = an existing campaign of broker 1
ENDPOINTS = [
    ("POST", "/campaigns", {"name": "x", "channel": "sms", "trigger_type": "MANUAL"}),
    ("GET", "/campaigns", None),
    ("GET", "/campaigns/{c}", None),
    ("POST", "/campaigns/{c}/status", {"status": "PAUSED"}),
    ("POST", "/campaigns/{c}/steps", {"step_number": 2, "action": "make_call"}),
    ("PUT", "/campaigns/{c}/steps/1", {"action": "make_call"}),
    ("DELETE", "/campaigns/{c}/steps/1", None),
    ("POST", "/campaigns/{c}/apply-to-lead/101", None),
]


@pytest.fixture
def campaign_id(client) -> int:
    return active_campaign(client)["id"]


@pytest.mark.parametrize("method, path, body", ENDPOINTS)
@pytest.mark.parametrize(
    "headers, status, detail",
    [({}, 401, "not authenticated"),
     ({"Authorization": "Bearer forged"}, 401, "invalid token"),
     ({"Authorization": "Basic YWRtaW46YWRtaW4="}, 401, "not authenticated"),
     ({"Authorization": "Bearer victor-token"}, 403, "user 'victor' is not an Airflow admin"),
     ({"Authorization": "Bearer nina-token"}, 403, "user 'nina' administers no broker")],
)
def test_only_airflow_admins_of_a_broker_get_in(client_for, db, trigger, campaign_id, method, path, body, headers, status, detail):
    anonymous = client_for(None)
    before = table_counts(db)
    r = anonymous.request(method, f"{API}{path.format(c=campaign_id)}", json=body, headers=headers)
    assert r.status_code == status, r.text
    assert detail in r.json()["detail"]
    if status == 401:
        assert r.headers["www-authenticate"] == "Bearer"
    assert table_counts(db) == before
    assert trigger.calls == []


def test_auth_comes_before_validation(client_for):
    r = client_for(None).post(f"{API}/campaigns", json={"name": ""})
    assert r.status_code == 401
    r = client_for("victor-token").get(f"{API}/campaigns/0")
    assert r.status_code == 403


def test_the_airflow_ui_cookie_is_accepted(client_for):
    c = client_for(None)
    c.cookies.set("_token", "alice-token")
    assert c.get(f"{API}/campaigns").status_code == 200


@pytest.mark.parametrize("method, path, body", [e for e in ENDPOINTS if "{c}" in e[1]])
def test_another_brokers_campaign_is_404(client, client_for, db, trigger, method, path, body):
    c = new_campaign(client)
    add_step(client, c["id"])
    bob = client_for("bob-token")  # an Airflow admin, of broker 2 only
    before = table_counts(db)
    r = bob.request(method, f"{API}{path.format(c=c['id'])}", json=body)
    assert r.status_code == 404, r.text
    assert r.json()["detail"] == f"campaign {c['id']} not found"
    assert table_counts(db) == before
    assert trigger.calls == []
    assert c["id"] not in [x["id"] for x in bob.get(f"{API}/campaigns").json()["items"]]


def test_another_brokers_lead_is_404(client_for):
    mia = client_for("mia-token")  # brokers 1 and 2: the lead is visible to her, but not in the campaign's broker
    c = active_campaign(mia, broker_id=1)
    r = mia.post(f"{API}/campaigns/{c['id']}/apply-to-lead/201")
    assert r.status_code == 404 and "lead 201 not found for broker 1" in r.json()["detail"]


class _Role:
    def __init__(self, name):
        self.name = name


class _FabUser:
    def __init__(self, *roles):
        self.roles = [_Role(r) for r in roles]


def test_admin_role_detection():
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    assert is_airflow_admin(SimpleAuthManagerUser(username="a", role="admin"))
    assert is_airflow_admin(SimpleAuthManagerUser(username="a", role="ADMIN"))
    for role in ("op", "user", "viewer", None):
        assert not is_airflow_admin(SimpleAuthManagerUser(username="a", role=role))
    assert is_airflow_admin(_FabUser("Viewer", "Admin"))
    assert not is_airflow_admin(_FabUser("Op", "User"))
    assert not is_airflow_admin(object())


REAL_VALIDATOR_SCRIPT = textwrap.dedent(
    """
    import asyncio, json
    import jwt
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from include.campaigns.api.auth import InvalidToken, airflow_token_validator

    am = create_auth_manager()
    admin = am.generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    viewer = am.generate_jwt(SimpleAuthManagerUser(username="viewer", role="viewer"))
    expired = am._get_token_signer(expiration_time_in_seconds=-3600).generate(
        am.serialize_user(SimpleAuthManagerUser(username="admin", role="admin")))
    claims = jwt.decode(admin, options={"verify_signature": False})
    forged = jwt.encode(claims, "not-the-airflow-secret", algorithm="HS512")
    revoked = am.generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    am.revoke_token(revoked)

    async def check(token):
        try:
            p = await airflow_token_validator(token)
            return [p.username, p.is_admin]
        except InvalidToken as exc:
            return "invalid: " + str(exc)

    tokens = {"admin": admin, "viewer": viewer, "expired": expired, "forged": forged, "revoked": revoked,
              "garbage": "not.a.jwt"}
    print("RESULT " + json.dumps({k: asyncio.run(check(v)) for k, v in tokens.items()}))
    """
)


@pytest.mark.timeout(240)
def test_the_real_airflow_validator(airflow_home):
    """Tokens signed by Airflow's own auth manager (in a throw-away AIRFLOW_HOME), checked by our validator."""
    done = subprocess.run([sys.executable, "-c", REAL_VALIDATOR_SCRIPT], env=airflow_home, cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["admin"] == ["admin", True]
    assert result["viewer"] == ["viewer", False]
    assert result["expired"].startswith("invalid: token expired")
    for name in ("forged", "revoked", "garbage"):
        assert result[name].startswith("invalid: invalid token"), (name, result[name])
