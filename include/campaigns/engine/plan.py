"""Stage: write the run's plan -- enrolments with a due step -- split into chunks; return the chunk numbers."""

from __future__ import annotations

from sqlalchemy import Engine, text

from include.campaigns.engine.run import RunContext, record_counts
from include.campaigns.engine.settings import EngineSettings
from include.campaigns.engine.actions import CONTACT_ACTIONS
from include.campaigns.infra.database import SqlFolder, allow_bulk_memory, analyze, price_key_lookups, sql_list

SQL = SqlFolder(__file__)
ANALYZE_AFTER = 5_000


def plan_sql():
    return SQL.templated("plan_due_enrolments", contact_actions=sql_list(CONTACT_ACTIONS))


def plan_due_steps(engine: Engine, run: RunContext, settings: EngineSettings | None = None) -> list[int]:
    settings = settings or EngineSettings()
    params = {"run_id": run.run_id, "run_at": run.run_at, "campaign_id": run.campaign_id, "lead_id": run.lead_id,
              "max_chunks": settings.max_chunks, "min_chunk_size": settings.min_chunk_size,
              "parallel_chunks": settings.parallel_chunks}
    with engine.begin() as conn:
        price_key_lookups(conn)
        allow_bulk_memory(conn)  # a first sweep's plan sorts every due enrolment (by lead, by agent, by chunk)
        conn.execute(text("DELETE FROM run_plan WHERE run_id = :r"), {"r": run.run_id})
        due = conn.execute(plan_sql(), params).rowcount
        # the numbers in use: an agent's leads placed together can leave a number unused
        chunks = list(conn.execute(text("SELECT DISTINCT chunk_no FROM run_plan WHERE run_id = :r ORDER BY 1"),
                                   {"r": run.run_id}).scalars())
        if due > ANALYZE_AFTER:
            analyze(conn, "run_plan")
        record_counts(conn, run.run_id, {"enrolments_due": due, "chunks": len(chunks)})
    return chunks
