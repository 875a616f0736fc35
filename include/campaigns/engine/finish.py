"""Stage: summarise what the run wrote, close its ``pipeline_runs`` row and drop its scratch rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

from include.campaigns.engine.run import RunContext, record_counts

SCRATCH_TABLES = ("run_leads", "run_trigger_matches", "run_plan", "run_pipelines", "run_lead_changes")
# A run's log rows all carry its time (walker.py, enrol.py): found by (campaign_id, executed_at), a skip scan over
# the campaigns on PostgreSQL 18, so an hour's count reads that hour's rows, not the whole history of campaign_logs.
COUNT_RUN_LOGS = ("SELECT status, count(*) FROM campaign_logs WHERE executed_at = :run_at AND run_id = :r "
                  "GROUP BY status")


def finish_run(engine: Engine, run: RunContext) -> dict[str, Any]:
    params = {"r": run.run_id}
    with engine.begin() as conn:
        logged = dict(conn.execute(text(COUNT_RUN_LOGS), {**params, "run_at": run.run_at}).all())
        rejected = conn.execute(text("SELECT count(*) FROM lead_rejects WHERE run_id = :r"), params).scalar_one()
        record_counts(conn, run.run_id, {
            "logs_sent": logged.get("SENT", 0), "logs_failed": logged.get("FAILED", 0),
            "logs_skipped": logged.get("SKIPPED", 0), "leads_rejected": rejected})
        conn.execute(text("UPDATE pipeline_runs SET finished_at = :t WHERE run_id = :r"), {**params, "t": run.run_at})
        for table in SCRATCH_TABLES:
            conn.execute(text(f"DELETE FROM {table} WHERE run_id = :r"), params)
        return conn.execute(text("SELECT counts FROM pipeline_runs WHERE run_id = :r"), params).scalar_one()
