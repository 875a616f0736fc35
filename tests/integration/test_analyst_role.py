"""``campaigns_analyst``: an analyst's login (made by the ``campaigns analysts`` command) reads the results tables
and the views and nothing else. Roles are cluster-wide, so every login here has a unique name and is dropped."""

from __future__ import annotations

import io
import subprocess
import sys
import uuid
from contextlib import redirect_stderr, redirect_stdout
from unittest.mock import patch

import psycopg
import pytest
from sqlalchemy import make_url, text

from include.campaigns.devtools.cli import main
from include.campaigns.infra import analysts
from include.campaigns.infra.migrations import upgrade

pytestmark = pytest.mark.integration

READABLE = ("campaign_logs", "campaign_stats", "message_deliveries", "campaign_overview", "campaign_step_stats",
            "campaign_step_funnel", "campaign_daily_stats", "campaign_failure_reasons", "campaign_conversions",
            "campaign_delivery_statuses")
REFUSED = (
    "SELECT * FROM leads",
    "INSERT INTO leads (id, broker_id, stage) VALUES (990001, 1, 'new')",
    "UPDATE leads SET stage = 'won'",
    "DELETE FROM leads",
    "INSERT INTO campaigns (broker_id, name, channel, trigger_type) VALUES (1, 'x', 'sms', 'MANUAL')",
    "UPDATE campaigns SET status = 'ARCHIVED'",
    "SELECT * FROM broker_admins",
    "INSERT INTO broker_admins (username, broker_id) VALUES ('me', 1)",
    "SELECT * FROM lead_replies",
    "INSERT INTO campaign_logs (campaign_id, lead_id, status, executed_at) VALUES (1, 1, 'SENT', now())",
    "UPDATE campaign_stats SET sent = 0",
    "CREATE TABLE mine (x int)",
)


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """``campaigns analysts ARGS`` in this process (the same ``main`` the command runs; the README test runs the
    installed command itself)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), patch.object(sys, "stdin", io.StringIO(stdin or "")):
        code = main(["analysts", *args])
    return subprocess.CompletedProcess(["campaigns", "analysts", *args], code, out.getvalue(), err.getvalue())


def _conninfo(url, user: str, password: str | None) -> str:
    query = url.query
    return psycopg.conninfo.make_conninfo(
        dbname=url.database, user=user, password=password or "", host=query.get("host") or url.host,
        port=url.port or None)


@pytest.fixture
def name(engine):
    if not analysts_available(engine):
        pytest.skip(f"role {analysts.GROUP} missing: the test database user may not create roles")
    who = f"analyst_{uuid.uuid4().hex[:10]}"
    yield who
    analysts.revoke(engine, who)


def analysts_available(engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :g"), {"g": analysts.GROUP}).first())


def test_an_analyst_reads_the_results_and_views_and_nothing_else(engine, name):
    done = _cli("grant", name)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(":", 1) for line in done.stdout.splitlines()[1:])
    password = lines["password"].strip()
    assert f"postgresql://{name}@" in lines["connect"]
    assert name in _cli("list").stdout.split()
    with psycopg.connect(_conninfo(engine.url, name, password), autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == name
        for relation in READABLE:
            conn.execute(f"SELECT count(*) FROM {relation}").fetchone()
        for statement in REFUSED:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    with engine.connect() as conn:  # nothing the analyst tried was written
        assert conn.execute(text("SELECT count(*) FROM leads WHERE id = 990001")).scalar_one() == 0

    again = _cli("grant", name)  # a second grant is a new password, the old one stops working where passwords count
    assert again.returncode == 0 and "given a new password" in again.stdout
    done = _cli("revoke", name)
    assert done.returncode == 0 and "revoked" in done.stdout
    assert name not in _cli("list").stdout.split()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(_conninfo(engine.url, name, password)).close()


def test_a_chosen_password_is_read_from_stdin_and_never_printed(engine, name):
    done = _cli("grant", name, "--password-stdin", stdin="correct horse battery staple\n")
    assert done.returncode == 0, done.stderr
    assert "correct horse" not in done.stdout and "password:" not in done.stdout
    assert _cli("grant", f"{name}_x", "--password-stdin", stdin="").returncode == 2


def test_roles_that_are_not_analysts_are_never_touched(engine):
    if not analysts_available(engine):
        pytest.skip(f"role {analysts.GROUP} missing")
    user = make_url(str(engine.url)).username
    for victim in (user, analysts.GROUP):
        done = _cli("grant", victim)
        assert done.returncode == 2 and "campaigns analysts:" in done.stderr, done
        done = _cli("revoke", victim)
        assert done.returncode == 2, done
    done = _cli("grant", "Robert'); DROP TABLE leads;--")
    assert done.returncode == 2 and "lower-case letters" in done.stderr


def test_the_migration_is_safe_when_the_role_already_exists(engine):
    """Roles outlive databases: a second database of the same server migrates and grants the existing role."""
    if not analysts_available(engine):
        pytest.skip(f"role {analysts.GROUP} missing")
    from include.campaigns.infra.database import get_engine

    scratch = f"campaigns_role_{uuid.uuid4().hex[:8]}"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{scratch}"'))
    other = get_engine(engine.url.set(database=scratch))
    try:
        assert "0013_analytics" in upgrade(other)
        with other.connect() as conn:
            assert conn.execute(text("SELECT has_table_privilege(:g, 'campaign_daily_stats', 'SELECT') "
                                     "AND NOT has_table_privilege(:g, 'leads', 'SELECT')"),
                                {"g": analysts.GROUP}).scalar_one()
    finally:
        other.dispose()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE "{scratch}" WITH (FORCE)'))
