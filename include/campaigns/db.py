"""Engine, SQL files and migrations.

SQL longer than a line lives in ``include/campaigns/sql/*.sql`` with ``:named`` binds;
``statement(name)`` loads it once. Bulk moves use psycopg's COPY under the same
SQLAlchemy connection, so they share its transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.sql.elements import TextClause

from include.campaigns.config import database_url

SQL_DIR = Path(__file__).with_name("sql")
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 7_316_001  # pg_advisory_xact_lock key: one migrator at a time
DATA_TABLES = (
    "leads", "agents", "brokers", "message_templates", "campaigns", "campaign_steps", "campaign_logs",
    "campaign_stats", "campaign_enrolments", "lead_snapshots", "lead_rejects", "run_leads",
    "run_trigger_matches", "run_plan", "pipeline_runs", "outbound_messages", "appointments",
    "lead_stage_history", "sweep_state", "campaign_evaluations",
)


@functools.cache
def _engine_for(url: str) -> Engine:
    return create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)


def get_engine(url: str | None = None) -> Engine:
    return _engine_for(url or database_url())


@functools.cache
def statement(name: str) -> TextClause:
    return text((SQL_DIR / f"{name}.sql").read_text())


def migrations() -> list[tuple[str, str]]:
    return [(p.stem, p.read_text()) for p in sorted(MIGRATIONS_DIR.glob("*.sql"))]


def upgrade(engine: Engine) -> list[str]:
    """Apply the migrations not yet applied, each in its own transaction; return their names."""
    applied: list[str] = []
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
        )
        done = {r[0] for r in conn.execute(text("SELECT version FROM schema_migrations"))}
        for version, body in migrations():
            if version in done:
                continue
            conn.exec_driver_sql(body)
            conn.execute(text("INSERT INTO schema_migrations (version) VALUES (:v)"), {"v": version})
            applied.append(version)
    return applied


def truncate_all(engine: Engine) -> None:
    """Empty every data table (demo reset, test isolation); the schema stays."""
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE")


def copy_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """COPY ``rows`` into ``table`` inside the connection's transaction; return the count.

    psycopg's ``write_row`` adapts each Python value (str, int, datetime, bool, list -> array)
    in C, which is what makes a million-row COPY cheap.
    """
    raw = conn.connection.driver_connection
    n = 0
    with raw.cursor() as cur:
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                n += 1
    return n


def analyze(conn: Connection, table: str) -> None:
    """Fresh statistics for a table just bulk-loaded, before the planner relies on them."""
    conn.exec_driver_sql(f"ANALYZE {table}")


def temp_table_like(conn: Connection, name: str, columns_sql: str) -> None:
    """A scratch table that disappears with the transaction."""
    conn.exec_driver_sql(f"CREATE TEMP TABLE {name} ({columns_sql}) ON COMMIT DROP")
