"""When the sweep stages analyse tables and probe by key (``infra/database.py``), on a real PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from include.campaigns.infra.database import analyze, analyze_if_grown, few_rows_of, joins_by_key, known_rows

pytestmark = pytest.mark.integration


def _setting(conn, name: str) -> str:
    return conn.exec_driver_sql(f"SELECT current_setting('{name}')").scalar()


def _scratch(conn, rows: int) -> None:
    conn.exec_driver_sql("CREATE TEMP TABLE scratch_rows (id bigint PRIMARY KEY, note text) ON COMMIT DROP")
    conn.execute(text("INSERT INTO scratch_rows SELECT g, 'row ' || g FROM generate_series(1, :n) g"), {"n": rows})


def test_joins_by_key_turns_hash_and_merge_joins_off_for_its_statements_only(engine):
    with engine.begin() as conn:
        _scratch(conn, 2_000)
        conn.exec_driver_sql("CREATE TEMP TABLE wanted_ids ON COMMIT DROP AS SELECT g AS id FROM generate_series(1, 1500) g")
        analyze(conn, "scratch_rows")
        analyze(conn, "wanted_ids")
        join = "EXPLAIN SELECT * FROM wanted_ids w JOIN scratch_rows s ON s.id = w.id"
        assert "Hash Join" in "\n".join(conn.exec_driver_sql(join).scalars())
        with joins_by_key(conn):
            assert (_setting(conn, "enable_hashjoin"), _setting(conn, "enable_mergejoin")) == ("off", "off")
            plan = "\n".join(conn.exec_driver_sql(join).scalars())
            assert "Nested Loop" in plan and "Index" in plan, plan
        assert (_setting(conn, "enable_hashjoin"), _setting(conn, "enable_mergejoin")) == ("on", "on")


def test_joins_by_key_gives_back_a_setting_the_transaction_had_turned_off(engine):
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL enable_mergejoin = off")
        with joins_by_key(conn):
            pass
        assert (_setting(conn, "enable_hashjoin"), _setting(conn, "enable_mergejoin")) == ("on", "off")


def test_few_rows_of_a_table_is_under_a_tenth_of_what_its_statistics_know(engine):
    with engine.begin() as conn:
        _scratch(conn, 1_000)
        analyze(conn, "scratch_rows")
        assert few_rows_of(conn, "scratch_rows", 99)
        assert not few_rows_of(conn, "scratch_rows", 100)
        assert not few_rows_of(conn, "no_such_table", 1)


def test_a_big_table_is_analysed_again_only_after_a_tenth_more_rows(engine):
    with engine.begin() as conn:
        _scratch(conn, 60_000)
        assert known_rows(conn, "scratch_rows") < 0  # never analysed
        assert analyze_if_grown(conn, "scratch_rows", 60_000)
        assert known_rows(conn, "scratch_rows") == 60_000
        conn.execute(text("INSERT INTO scratch_rows SELECT g, 'more' FROM generate_series(60001, 65900) g"))
        assert not analyze_if_grown(conn, "scratch_rows", 5_900)  # under a tenth of 60k: the statistics stand
        assert known_rows(conn, "scratch_rows") == 60_000
        assert not analyze_if_grown(conn, "scratch_rows", 4_000, at_least=5_000)
        conn.execute(text("INSERT INTO scratch_rows SELECT g, 'more' FROM generate_series(65901, 72000) g"))
        assert analyze_if_grown(conn, "scratch_rows", 12_000)
        assert known_rows(conn, "scratch_rows") == 72_000


def test_analysing_some_columns_leaves_the_others_without_statistics(engine):
    with engine.begin() as conn:
        _scratch(conn, 500)
        analyze(conn, "scratch_rows", ("id",))
        summarised = set(conn.exec_driver_sql(
            "SELECT attname FROM pg_stats WHERE tablename = 'scratch_rows'").scalars())
        assert summarised == {"id"}


def _histogram_bounds(conn, column: str) -> int:
    """How many histogram bounds ANALYZE kept for ``column`` of scratch_rows (its target + 1 at most)."""
    return conn.execute(text("SELECT coalesce(cardinality(histogram_bounds::text::text[]), 0) FROM pg_stats "
                             "WHERE tablename = 'scratch_rows' AND attname = :c"), {"c": column}).scalar_one()


def test_a_scratch_table_is_summarised_from_a_small_sample_and_a_long_lived_one_by_the_servers_target(engine):
    with engine.begin() as conn:
        _scratch(conn, 60_000)
        conn.exec_driver_sql("UPDATE scratch_rows SET note = 'kind ' || mod(id, 500)")
        analyze(conn, "scratch_rows")
        assert known_rows(conn, "scratch_rows") == 60_000
        assert _histogram_bounds(conn, "id") == 11  # target 10: ten buckets
        assert _histogram_bounds(conn, "note") <= 11
        assert _setting(conn, "default_statistics_target") == "100"  # given back for the rest of the transaction
        assert analyze_if_grown(conn, "scratch_rows", 60_000)
        assert _histogram_bounds(conn, "id") == 101
        assert _histogram_bounds(conn, "note") > 11


def test_a_runs_log_count_reads_the_rows_of_its_hour_not_the_whole_history(engine):
    from include.campaigns.engine.finish import COUNT_RUN_LOGS

    with engine.connect() as conn, conn.begin() as history:
        conn.execute(text(  # 48 hourly runs of 40 campaigns x 30 leads: the log of two days
            "INSERT INTO campaign_logs (campaign_id, lead_id, step_number, action, status, executed_at, run_id,"
            " broker_id) SELECT c, l + h * 30, 1, 'send_message', CASE WHEN mod(l, 7) = 0 THEN 'FAILED' ELSE 'SENT' END,"
            " CAST(:t0 AS timestamptz) + h * interval '1 hour', 'hourly-' || h, 1"
            " FROM generate_series(1, 40) c, generate_series(1, 30) l, generate_series(0, 47) h"),
            {"t0": "2026-11-25T00:00:00+00:00"})
        conn.exec_driver_sql("ANALYZE campaign_logs")
        params = {"r": "hourly-47", "run_at": "2026-11-26T23:00:00+00:00"}
        assert dict(conn.execute(text(COUNT_RUN_LOGS), params).all()) == {"SENT": 40 * 26, "FAILED": 40 * 4}
        plan = "\n".join(conn.execute(text(f"EXPLAIN {COUNT_RUN_LOGS}"), params).scalars())
        if int(conn.exec_driver_sql("SHOW server_version_num").scalar()) >= 180000:  # B-tree skip scan (PG 18)
            assert "campaign_logs_campaign_time_status_idx" in plan and "Seq Scan" not in plan, plan
        history.rollback()
