"""Fixtures of the admin API tests: seeded PostgreSQL, a fake token validator, a recording DAG trigger,
and (for the tests that need real Airflow) a throw-away AIRFLOW_HOME.

Run: ``CAMPAIGNS_TEST_DB=campaigns_test_api .venv/bin/pytest tests/api -q``
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from include.campaigns.api import create_app
from include.campaigns.api.auth import InvalidToken, Principal
from include.campaigns.api.dagruns import DagNotAvailable, TriggeredRun
from include.campaigns.infra.paths import PROJECT_ROOT

API = "/api/v1"
DEFAULT_TIMEOUT = 60  # seconds, for every test of this folder without its own timeout marker
API_DIR = Path(__file__).parent

# token -> who it stands for
TOKENS = {
    "alice-token": Principal("alice", True),  # Airflow admin, broker 1
    "bob-token": Principal("bob", True),  # Airflow admin, broker 2
    "mia-token": Principal("mia", True),  # Airflow admin, brokers 1 and 2
    "nina-token": Principal("nina", True),  # Airflow admin, no broker
    "victor-token": Principal("victor", False),  # Airflow viewer, broker 1 in broker_admins
}
GRANTS = [("alice", 1), ("bob", 2), ("mia", 1), ("mia", 2), ("victor", 1)]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if API_DIR in Path(str(item.path)).parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_TIMEOUT))


class FakeValidator:
    def __call__(self, token: str) -> Principal:
        try:
            return TOKENS[token]
        except KeyError:
            raise InvalidToken("invalid token") from None


class RecordingTrigger:
    """Records the DAG runs the API asks for; ``fail`` makes it behave like a missing DAG."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict, str]] = []
        self.fail = False

    def __call__(self, dag_id: str, conf: dict, username: str) -> TriggeredRun:
        if self.fail:
            raise DagNotAvailable(f"DAG {dag_id!r} is not known to Airflow yet")
        self.calls.append((dag_id, dict(conf), username))
        return TriggeredRun(dag_run_id=f"manual__test_{len(self.calls)}", dag_is_paused=False)


PIPELINE_1 = ("new", "contacted", "qualified", "visita", "won", "lost")


def seed(engine: Engine) -> None:
    """Two brokers, their leads and templates, and the broker grants of TOKENS' users."""
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE broker_admins"))
        conn.execute(
            text("INSERT INTO broker_admins (username, broker_id) VALUES (:u, :b)"),
            [{"u": u, "b": b} for u, b in GRANTS],
        )
        conn.execute(text("INSERT INTO brokers (id, name) VALUES (1, 'Inmo Uno'), (2, 'Inmo Dos')"))
        # broker 1's own pipeline; broker 2 has none (any non-empty stage is valid there)
        conn.execute(text("INSERT INTO pipeline_stages (broker_id, stage, position) SELECT 1, s, n "
                          "FROM unnest(CAST(:s AS text[])) WITH ORDINALITY AS t(s, n)"), {"s": list(PIPELINE_1)})
        conn.execute(
            text(
                "INSERT INTO leads (id, broker_id, full_name, email, phone, stage, score) VALUES "
                "(101, 1, 'Ana', 'ana@example.com', '+34600000001', 'new', 80), "
                "(102, 1, 'Luis', NULL, '+34600000002', 'contacted', 40), "
                "(201, 2, 'Eva', 'eva@example.com', NULL, 'new', 90)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO message_templates (id, broker_id, channel, name, body, is_active) VALUES "
                "(11, 1, 'whatsapp', 'hola', 'Hola {{ lead.full_name }}', true), "
                "(12, 1, 'whatsapp', 'old', 'Viejo', false), "
                "(13, 1, 'email', 'mail', 'Hola por email', true), "
                "(21, 2, 'whatsapp', 'hola2', 'Hola', true)"
            )
        )


@pytest.fixture
def db(engine: Engine) -> Engine:
    seed(engine)
    return engine


@pytest.fixture
def trigger() -> RecordingTrigger:
    return RecordingTrigger()


@pytest.fixture
def app(db: Engine, trigger: RecordingTrigger):
    return create_app(engine=db, token_validator=FakeValidator(), dag_trigger=trigger)


def _client(app, token: str | None) -> TestClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return TestClient(app, headers=headers, raise_server_exceptions=False)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    """alice: Airflow admin of broker 1."""
    with _client(app, "alice-token") as c:
        yield c


@pytest.fixture
def client_for(app):
    def make(token: str | None) -> TestClient:
        return _client(app, token)

    return make


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("campaigns", "campaign_steps", "campaign_logs", "campaign_enrolments", "broker_admins")
        } | {
            "campaign_state": hash(
                tuple(conn.execute(text("SELECT id, status, name, updated_at FROM campaigns ORDER BY id")).all())
            ),
            "step_state": hash(
                tuple(
                    conn.execute(
                        text(
                            "SELECT campaign_id, step_number, action, delay_hours, message_template_id, "
                            "conditions::text, config::text FROM campaign_steps ORDER BY 1, 2"
                        )
                    ).all()
                )
            ),
        }


# -- helpers --------------------------------------------------------------------------------------------

CAMPAIGN = {"name": "Leads calientes", "channel": "whatsapp", "trigger_type": "LEAD_SCORE", "trigger_config": {"threshold": 70}}
SEND_STEP = {"step_number": 1, "action": "send_message", "delay_hours": 0, "message_template_id": 11}


def new_campaign(client: TestClient, **overrides) -> dict:
    r = client.post(f"{API}/campaigns", json={**CAMPAIGN, **overrides})
    assert r.status_code == 201, r.text
    return r.json()


def add_step(client: TestClient, campaign_id: int, **fields) -> dict:
    r = client.post(f"{API}/campaigns/{campaign_id}/steps", json={**SEND_STEP, **fields})
    assert r.status_code == 201, r.text
    return r.json()


def set_status(client: TestClient, campaign_id: int, status: str):
    return client.post(f"{API}/campaigns/{campaign_id}/status", json={"status": status})


def active_campaign(client: TestClient, **overrides) -> dict:
    c = new_campaign(client, **overrides)
    add_step(client, c["id"])
    r = set_status(client, c["id"], "ACTIVE")
    assert r.status_code == 200, r.text
    return r.json()


# -- real Airflow ---------------------------------------------------------------------------------------

AIRFLOW_USERS = {"admin": "admin-pass-123", "viewer": "viewer-pass-123"}


@pytest.fixture(scope="session")
def airflow_home(database_url: str) -> Iterator[dict[str, str]]:
    """A migrated, throw-away AIRFLOW_HOME (SQLite) and the environment to run Airflow processes in it.

    SimpleAuthManager users ``admin`` (ADMIN) and ``viewer`` (VIEWER) with the passwords of AIRFLOW_USERS.
    The project's shared .airflow/ is never touched.
    """
    home = Path(tempfile.mkdtemp(prefix="campaigns-api-airflow-"))
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps(AIRFLOW_USERS))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API_AUTH__JWT_SECRET": "campaigns-api-test-jwt-secret-0123456789",
            "AIRFLOW__API__SECRET_KEY": "campaigns-api-test-secret-key",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW_CONN_CAMPAIGNS_DB": os.environ["AIRFLOW_CONN_CAMPAIGNS_DB"],
            "PYTHONPATH": str(PROJECT_ROOT),
        }
    )
    airflow = str(Path(sys.executable).with_name("airflow"))
    try:
        done = subprocess.run(
            [airflow, "db", "migrate"], env=env, cwd=home, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        yield env
    finally:
        shutil.rmtree(home, ignore_errors=True)
