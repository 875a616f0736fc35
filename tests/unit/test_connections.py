"""Connections are read strictly: a malformed one is an error naming it; the embedded database and the
sandbox are used only where the configuration says so (or, for the database, nothing is configured)."""

from __future__ import annotations

import json

import pytest

from include.campaigns.infra.connections import ConnectionConfigError, lookup, require
from include.campaigns.infra.database import CONN_ID, database_url, is_embedded, url_of

ENV = "AIRFLOW_CONN_CAMPAIGNS_DB"


@pytest.mark.parametrize("value, says", [
    ("mysql://root@localhost/campaigns", "must be a postgres connection, got .mysql."),
    ("{not json", "AIRFLOW_CONN_CAMPAIGNS_DB is not valid JSON"),
    (json.dumps({"conn_type": "postgres", "extra": "[1, 2]"}), "its extra must be a JSON object"),
    (json.dumps({"conn_type": "postgres", "extra": "{bad"}), "its extra is not valid JSON"),
    (json.dumps({"conn_type": "postgres", "schema": "campaigns", "login": "postgres"}), "has no host"),
    (json.dumps({"conn_type": "mysql", "host": "db.example.com"}), "must be a postgres connection"),
])
def test_a_malformed_campaigns_db_is_an_error_naming_it_never_the_embedded_server(monkeypatch, value, says):
    monkeypatch.setenv(ENV, value)
    with pytest.raises(ConnectionConfigError, match=says) as error:
        database_url()
    assert CONN_ID in str(error.value) or ENV in str(error.value)


def test_an_explicit_embedded_connection_and_a_server_url(monkeypatch):
    monkeypatch.setenv(ENV, json.dumps({"conn_type": "postgres", "extra": {"embedded": True}}))
    assert is_embedded(lookup(CONN_ID))
    assert "/campaigns?host=" in database_url()
    monkeypatch.setenv(ENV, "postgresql://app:secret@db.example.com:6543/crm")
    conn = lookup(CONN_ID)
    assert not is_embedded(conn)
    assert url_of(conn) == "postgresql+psycopg://app:secret@db.example.com:6543/crm"


def test_no_connection_at_all_outside_a_task_means_the_embedded_server():
    assert lookup("campaigns_db_never_defined") is None
    assert is_embedded(None)


def test_a_missing_connection_that_is_required_names_it_and_the_fix():
    with pytest.raises(ConnectionConfigError, match=r"connection channel_fax is not defined: add it"):
        require("channel_fax", "add it")


def test_the_metadata_databases_own_connection_is_read_outside_a_task(monkeypatch):
    """`campaigns settings load` put the connections of airflow_settings.yaml in Airflow's metadata database;
    a CLI outside any task reads them there (Airflow's own lookup would only see environment variables)."""
    monkeypatch.delenv("AIRFLOW_CONN_CHANNEL_EMAIL", raising=False)
    conn = lookup("channel_email")
    assert conn is not None and conn.extra.get("adapter") == "sandbox"
    assert conn.source == "MetastoreBackend"
