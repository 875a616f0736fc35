"""The same engine on an external PostgreSQL (the server on 127.0.0.1:5432), through the CLI and Airflow.

Where no such server answers (a laptop), the test is skipped, except in CI, where it must run.
"""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest
from sqlalchemy import create_engine, text

from include.campaigns.infra.database import sqlalchemy_url
from include.campaigns.infra.paths import PROJECT_ROOT
from tests.factories import add_broker, add_campaign, add_lead, add_template, logs

pytestmark = pytest.mark.integration

ADMIN = os.environ.get("CAMPAIGNS_EXTERNAL_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
DB = "campaigns_external_test"


@pytest.fixture
def external_url():
    try:
        conn = psycopg.connect(ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must test the external PostgreSQL path, but {ADMIN} does not answer: {exc}")
        pytest.skip(f"no PostgreSQL at {ADMIN}")
    with conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")
    yield ADMIN.rsplit("/", 1)[0] + "/" + DB
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


def cli(args, url):
    env = {**os.environ, "AIRFLOW_CONN_CAMPAIGNS_DB": url}
    return subprocess.run(args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_upgrade_and_a_dag_run_on_the_external_server(external_url):
    bin_dir = os.path.dirname(sys.executable)
    first = cli([f"{bin_dir}/campaigns", "db", "upgrade"], external_url)
    assert first.returncode == 0, first.stderr
    assert "0001_schema" in first.stdout
    again = cli([f"{bin_dir}/campaigns", "db", "upgrade"], external_url)
    assert again.returncode == 0 and again.stdout.strip().endswith("schema up to date"), again.stdout

    engine = create_engine(sqlalchemy_url(external_url))
    add_broker(engine, 1)
    add_template(engine, 10, 1, "whatsapp")
    add_lead(engine, 1, score=95)
    cid = add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70},
                       steps=[{"action": "send_message", "message_template_id": 10}])
    run = cli([f"{bin_dir}/airflow", "dags", "test", "campaign_executor", "2026-11-25T10:00:00+00:00"], external_url)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert [(r[0], r[1], r[3]) for r in logs(engine, cid)] == [(1, 1, "SENT")]
    with engine.connect() as c:
        assert c.execute(text("SELECT run_at FROM pipeline_runs")).scalar().isoformat() == "2026-11-25T10:00:00+00:00"
    engine.dispose()
