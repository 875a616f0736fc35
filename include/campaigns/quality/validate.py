"""Stage: validate a run's staged leads; keep the rejects with their reasons and flag them for the run.

Great Expectations builds each expectation's row condition (``gx_runner``); one statement evaluates all of them
over the run's staged leads in PostgreSQL (``run_leads_to_validate``), so the rows never travel to Python and
only the rejects come back. Rejected rows go to ``lead_rejects`` with every reason, for the CRM team, and are
flagged ``run_leads.rejected`` so the rest of the run ignores them. The stages a broker accepts are its own
(``pipeline_stages``); the pipelines used are recorded for the sweep (``run_pipelines``), so a broker whose
pipeline changes later is validated again. One transaction, set-based, idempotent: a retried task finds the
rejects already flagged, and ``ON CONFLICT DO NOTHING`` covers a concurrent duplicate.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from include.campaigns.engine.run import RunContext
from include.campaigns.infra.database import SqlFolder, analyze, copy_rows, temp_table
from include.campaigns.quality.expectations import LEAD_EXPECTATIONS
from include.campaigns.quality.gx_runner import Rules, name_broken_condition, reject_conditions, reject_statement

SQL = SqlFolder(__file__)
REJECTS_TABLE = "tmp_quality_rejects"
ANALYZE_AFTER = 5_000  # rejects after which the planner needs the temp table's statistics
# The check is one scan whose cost is the rules' expressions (regexes, value sets), which the planner prices as
# nearly free; with these (for this transaction only) it reads a big run with parallel workers.
PARALLEL_SCAN_COSTS = "SET LOCAL parallel_setup_cost = 10; SET LOCAL parallel_tuple_cost = 0.001"


def validate_snapshot(engine: Engine, run: RunContext, rules: Rules = LEAD_EXPECTATIONS) -> dict[str, Any]:
    params = {"run_id": run.run_id, "run_at": run.run_at}
    with engine.begin() as conn:
        staged = conn.execute(SQL("staged_brokers"), params).all()
        validated = sum(leads for _, leads in staged)
        if not validated:
            return {"validated": 0, "rejected": 0, "reasons": {}}
        stages = conn.execute(SQL("pipeline_stage_values")).scalars().all()
        conditions = reject_conditions(engine, run.run_at, stages, rules)
        conn.execute(SQL("record_run_pipelines"),
                     {**params, "brokers": sorted(broker for broker, _ in staged if broker is not None)})
        conn.exec_driver_sql(PARALLEL_SCAN_COSTS)
        try:
            with conn.begin_nested():
                found = conn.execute(reject_statement(conditions, run.run_id)).all()
        except DBAPIError:
            name_broken_condition(conn, conditions, run.run_id)
            raise
        rejects = [(lead_id, sorted(set(reasons))) for lead_id, reasons in found]
        if rejects:
            temp_table(conn, REJECTS_TABLE, "lead_id bigint PRIMARY KEY, reasons text[] NOT NULL")
            copy_rows(conn, REJECTS_TABLE, ("lead_id", "reasons"), rejects)
            if len(rejects) > ANALYZE_AFTER:
                analyze(conn, REJECTS_TABLE)
            conn.execute(SQL("insert_rejects"), params)
            conn.execute(SQL("flag_rejected"), params)
    counts = Counter(reason for _, reasons in rejects for reason in reasons)
    return {"validated": validated, "rejected": len(rejects), "reasons": dict(sorted(counts.items()))}
