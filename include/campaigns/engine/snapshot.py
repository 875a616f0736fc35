"""Stage: copy the leads this run looks at into ``run_leads``, with the stage of their previous snapshot."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

from include.campaigns import triggers
from include.campaigns.engine.run import RunContext, record_counts
from include.campaigns.infra.database import SqlFolder, analyze

SQL = SqlFolder(__file__)
ANALYZE_AFTER = 5_000  # rows bulk-loaded in a run after which the planner needs fresh statistics


def stage_leads_sql():
    after, upto = triggers.activity_window_sql()
    return SQL.templated("stage_leads", automatic_types=triggers.automatic_sql(), window_after=after,
                         window_upto=upto)


def snapshot_leads(engine: Engine, run: RunContext) -> dict[str, Any]:
    """Stage the leads that can trigger something new (sweep), or the one lead (apply)."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM run_leads WHERE run_id = :r"), {"r": run.run_id})
        staged = conn.execute(stage_leads_sql(),
                              {"run_id": run.run_id, "lead_id": run.lead_id, "run_at": run.run_at}).rowcount
        if run.mode == "apply" and staged == 0:
            raise LookupError(f"lead {run.lead_id} disappeared before the run could read it")
        counts = {"leads_staged": staged}
        record_counts(conn, run.run_id, counts)
        if staged > ANALYZE_AFTER:
            analyze(conn, "run_leads")
    return counts
