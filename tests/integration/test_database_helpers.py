"""The bulk helpers of infra/database.py on a real PostgreSQL: binary COPY, UTC sessions, insert_once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from include.campaigns.infra.database import SqlFolder, campaign_engine, copy_rows, insert_once, temp_table


def test_copy_rows_writes_each_type_as_the_table_declares_it(engine):
    bogota = datetime(2026, 3, 1, 8, 30, tzinfo=ZoneInfo("America/Bogota"))
    rows = [(1, "Ñandú 🏠", ["a", "b"], bogota, True, None, 2**40),
            (2, None, [], bogota + timedelta(days=1), False, 7, None)]
    with engine.begin() as conn:
        temp_table(conn, "copied", "id bigint, name text, tags text[], at timestamptz, flag boolean, n int, big bigint")
        assert copy_rows(conn, "copied", ("id", "name", "tags", "at", "flag", "n", "big"), iter(rows)) == 2
        back = conn.execute(text("SELECT id, name, tags, at, flag, n, big FROM copied ORDER BY id")).all()
    assert [tuple(r) for r in back] == rows  # the same instants, the same values, nulls kept


def test_copy_rows_names_a_column_the_table_lacks(engine):
    with engine.begin() as conn:
        temp_table(conn, "copied", "id bigint")
        with pytest.raises(ValueError, match="copied: no column.*colour"):
            copy_rows(conn, "copied", ("id", "colour"), [(1, "red")])


def test_a_value_of_the_wrong_type_fails_the_copy_loudly(engine):
    with engine.begin() as conn:
        temp_table(conn, "copied", "n int")
        with pytest.raises(TypeError, match="integer"):  # never a text COPY that lets the server guess
            copy_rows(conn, "copied", ("n",), [("not a number",)])


def test_sessions_are_in_utc_whatever_the_server_or_url_says(database_url):
    asked = database_url + ("&" if "?" in database_url else "?") + "options=-c%20TimeZone%3DAmerica/Bogota"
    eng = campaign_engine(asked)
    try:
        with eng.connect() as conn:
            assert conn.exec_driver_sql("SHOW TimeZone").scalar() == "UTC"
            at = conn.exec_driver_sql("SELECT timestamptz '2026-03-01 08:30:00-05'").scalar()
            assert at.tzinfo is timezone.utc and at == datetime(2026, 3, 1, 13, 30, tzinfo=timezone.utc)
            # explicit zones are untouched by the session's
            local = conn.exec_driver_sql(
                "SELECT CAST(timestamptz '2026-03-01 13:30:00+00' AT TIME ZONE 'America/Bogota' AS text)").scalar()
            assert local == "2026-03-01 08:30:00"
    finally:
        eng.dispose()


@pytest.fixture
def folder(tmp_path) -> SqlFolder:
    """A module's sql/ folder holding one templated INSERT of keys into the temp table ``keyed``."""
    sql = tmp_path / "sql"
    sql.mkdir()
    (sql / "put_keys.sql").write_text(
        "INSERT INTO keyed (k) SELECT unnest(CAST(:keys AS text[])) {{ on_conflict }} RETURNING k")
    return SqlFolder(str(tmp_path / "module.py"))


def test_insert_once_inserts_plainly_then_skips_what_is_there(engine, folder):
    with engine.begin() as conn:
        temp_table(conn, "keyed", "k text PRIMARY KEY")
        assert {r.k for r in insert_once(conn, folder, "put_keys", "ON CONFLICT DO NOTHING",
                                         {"keys": ["a", "b"]})} == {"a", "b"}
        # a batch with a key already there: only the new one goes in, and the transaction goes on
        assert [r.k for r in insert_once(conn, folder, "put_keys", "ON CONFLICT DO NOTHING",
                                         {"keys": ["b", "c"]})] == ["c"]
        assert conn.exec_driver_sql("SELECT count(*) FROM keyed").scalar() == 3


def test_insert_once_does_not_swallow_other_errors(engine, folder):
    with engine.begin() as conn:
        temp_table(conn, "keyed", "k text PRIMARY KEY CHECK (k <> 'bad')")
        with pytest.raises(IntegrityError, match="check constraint"):
            insert_once(conn, folder, "put_keys", "ON CONFLICT DO NOTHING", {"keys": ["bad"]})
