"""The embedded server's own settings (``infra/embedded.py``), on a throw-away data directory of this module."""

from __future__ import annotations

import shutil
import time

import psycopg
import pytest

from include.campaigns.infra import embedded

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _own_server(pgdata, monkeypatch) -> str:
    monkeypatch.setenv("CAMPAIGNS_PGDATA", str(pgdata))
    assert embedded.pgdata_dir() == pgdata.resolve()
    return embedded.ensure_running("campaigns_settings")


def _stop(pgdata) -> None:
    assert embedded.pgdata_dir() == pgdata.resolve()  # never the shared server
    embedded.pg_ctl("-w", "-m", "immediate", "stop")


def _shared_buffers_mb(uri: str) -> int:
    with psycopg.connect(uri) as conn:
        return conn.execute("SELECT pg_size_bytes(current_setting('shared_buffers')) / 1048576").fetchone()[0]


def _max_wal_size(uri: str) -> str:
    with psycopg.connect(uri) as conn:
        return conn.execute("SELECT current_setting('max_wal_size')").fetchone()[0]


def test_a_new_server_runs_with_its_shared_buffers_and_keeps_logging_to_its_file(tmp_path, monkeypatch):
    pgdata = tmp_path / "pg"
    try:
        uri = _own_server(pgdata, monkeypatch)
        assert 128 <= embedded.shared_buffers_mb() <= 2048
        assert _shared_buffers_mb(uri) == embedded.shared_buffers_mb()
        assert _max_wal_size(uri) == "4GB"  # not PostgreSQL's 1GB
        log = (pgdata / "log").read_text()
        assert log.count("database system is ready to accept connections") == 2, log  # started, then restarted
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("DO $$ BEGIN RAISE LOG 'still logging after the restart'; END $$")
        assert "still logging after the restart" in (pgdata / "log").read_text()
        assert embedded.ensure_running("campaigns_settings") == uri  # settled: no second restart
        assert (pgdata / "log").read_text().count("ready to accept connections") == 2
    finally:
        _stop(pgdata)
        shutil.rmtree(pgdata, ignore_errors=True)


def test_a_server_with_clients_is_not_restarted_under_them(tmp_path, monkeypatch):
    pgdata = tmp_path / "pg"
    try:
        uri = _own_server(pgdata, monkeypatch)
        with psycopg.connect(uri, autocommit=True) as admin:  # PostgreSQL's defaults, as an older checkout left them
            admin.execute("ALTER SYSTEM SET shared_buffers = '128MB'")
            admin.execute("ALTER SYSTEM SET max_wal_size = '1GB'")
        embedded.pg_ctl("-w", "-m", "fast", "-l", str(pgdata / "log"), "restart")
        assert _shared_buffers_mb(uri) == 128
        with psycopg.connect(uri, autocommit=True) as client:  # e.g. a running Airflow
            assert embedded.ensure_running("campaigns_settings") == uri
            assert client.execute("SELECT 1").fetchone() == (1,)  # not cut off
            assert _shared_buffers_mb(uri) == 128
            # max_wal_size needs no restart: a reload applies it under the running client
            deadline = time.monotonic() + 10
            while _max_wal_size(uri) != "4GB" and time.monotonic() < deadline:
                time.sleep(0.1)
            assert _max_wal_size(uri) == "4GB"
            persisted = client.execute("SELECT setting FROM pg_file_settings WHERE name = 'shared_buffers' "
                                       "AND sourcefile LIKE '%postgresql.auto.conf'").fetchall()
            assert persisted == [(f"{embedded.shared_buffers_mb()}MB",)]  # applied at the next start
        embedded.ensure_running("campaigns_settings")  # nobody else connected now: applied
        assert _shared_buffers_mb(uri) == embedded.shared_buffers_mb()
    finally:
        _stop(pgdata)
        shutil.rmtree(pgdata, ignore_errors=True)
