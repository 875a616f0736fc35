"""The campaign schema: versioned SQL migrations (``migrations/*.sql``), applied once each, in order."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 7_316_001  # pg_advisory_xact_lock key: one migrator at a time
DATA_TABLES = (
    "leads", "agents", "brokers", "message_templates", "campaigns", "campaign_steps", "campaign_logs",
    "campaign_stats", "campaign_enrolments", "lead_snapshots", "lead_rejects", "run_leads",
    "run_trigger_matches", "run_plan", "pipeline_runs", "outbound_messages", "appointments",
    "lead_stage_history", "sweep_state", "campaign_evaluations", "pipeline_stages", "pipeline_evaluations",
    "run_pipelines", "frequency_caps", "message_deliveries", "lead_replies", "lead_changes", "run_lead_changes",
)


def migrations() -> list[tuple[str, str]]:
    return [(p.stem, p.read_text()) for p in sorted(MIGRATIONS_DIR.glob("*.sql"))]


def upgrade(engine: Engine) -> list[str]:
    """Apply the migrations not yet applied, in one advisory-locked transaction; return their names."""
    applied: list[str] = []
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        conn.execute(text(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"))
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
