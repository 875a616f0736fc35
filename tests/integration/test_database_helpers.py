"""The bulk helpers of infra/database.py on a real PostgreSQL: binary COPY, UTC sessions, copy_new_rows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from psycopg.errors import CheckViolation
from sqlalchemy import event, text

from include.campaigns.infra.database import campaign_engine, copy_new_rows, copy_rows, temp_table


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


def test_copy_new_rows_copies_a_new_batch_and_refuses_one_with_a_row_already_there(engine):
    with engine.begin() as conn:
        temp_table(conn, "keyed", "k text PRIMARY KEY, n int")
        assert copy_new_rows(conn, "keyed", ("k", "n"), [("a", 1), ("b", 2)])
        # "b" is there: nothing of this batch is written, and the transaction goes on
        assert not copy_new_rows(conn, "keyed", ("k", "n"), [("c", 3), ("b", 4)])
        assert conn.execute(text("SELECT k, n FROM keyed ORDER BY k")).all() == [("a", 1), ("b", 2)]
        assert copy_new_rows(conn, "keyed", ("k", "n"), [("c", 3)])
        assert conn.exec_driver_sql("SELECT count(*) FROM keyed").scalar() == 3


def test_copy_new_rows_does_not_swallow_other_errors(engine):
    with engine.begin() as conn:
        temp_table(conn, "keyed", "k text PRIMARY KEY CHECK (k <> 'bad')")
        with pytest.raises(CheckViolation, match="check constraint"):
            copy_new_rows(conn, "keyed", ("k",), [("bad",)])


def test_the_engines_statement_events_see_a_copy(engine):
    seen: list[tuple[str, str]] = []
    before = lambda conn, cur, statement, *rest: seen.append(("before", statement))  # noqa: E731
    after = lambda conn, cur, statement, *rest: seen.append(("after", statement))  # noqa: E731
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        with engine.begin() as conn:
            temp_table(conn, "copied", "id bigint")
            seen.clear()
            copy_rows(conn, "copied", ("id",), [(1,)])
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    copies = [(when, s) for when, s in seen if s.startswith("COPY")]
    assert copies == [("before", "COPY copied (id) FROM STDIN (FORMAT BINARY)"),
                      ("after", "COPY copied (id) FROM STDIN (FORMAT BINARY)")]
