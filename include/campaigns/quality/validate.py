"""Stage: validate a run's staged leads; keep the rejects with their reasons and flag them for the run.

Rejected rows go to ``lead_rejects`` with every reason, for the CRM team, and are flagged
``run_leads.rejected`` so the rest of the run ignores them. The stages a broker accepts are its own
(``pipeline_stages``); the pipelines used are recorded for the sweep (``run_pipelines``), so a broker whose
pipeline changes later is validated again. One transaction, set-based, idempotent: a retried
task finds the rejects already flagged, and ``ON CONFLICT DO NOTHING`` covers a concurrent duplicate.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Engine

from include.campaigns.engine.run import RunContext
from include.campaigns.infra.database import SqlFolder, analyze, copy_frame, copy_rows, temp_table
from include.campaigns.quality.gx_runner import NUMERIC_COLUMNS, TIMESTAMP_COLUMNS, Rules, find_rejects
from include.campaigns.quality.expectations import LEAD_EXPECTATIONS

SQL = SqlFolder(__file__)
REJECTS_TABLE = "tmp_quality_rejects"


def validate_snapshot(engine: Engine, run: RunContext, rules: Rules = LEAD_EXPECTATIONS) -> dict[str, Any]:
    params = {"run_id": run.run_id, "run_at": run.run_at}
    with engine.begin() as conn:
        df = copy_frame(conn, SQL.source("staged_leads"), {"run_id": run.run_id},
                        numbers=("lead_id", "broker_id", *NUMERIC_COLUMNS), timestamps=TIMESTAMP_COLUMNS)
        brokers = sorted(int(b) for b in df["broker_id"].dropna().unique())
        pipelines, hashes = {}, {}
        for r in conn.execute(SQL("broker_pipelines"), {"ids": brokers}):
            pipelines[r.broker_id], hashes[r.broker_id] = tuple(r.stages), r.pipeline_hash
        conn.execute(SQL("record_run_pipelines"), {"run_id": run.run_id, "brokers": brokers,
                                                   "hashes": [hashes.get(b) for b in brokers]})
        rejects = find_rejects(df, run.run_at, pipelines, rules)
        if rejects:
            temp_table(conn, REJECTS_TABLE, "lead_id bigint PRIMARY KEY, reasons text[] NOT NULL")
            copy_rows(conn, REJECTS_TABLE, ("lead_id", "reasons"), rejects.items())
            analyze(conn, REJECTS_TABLE)
            conn.execute(SQL("insert_rejects"), params)
            conn.execute(SQL("flag_rejected"), params)
    counts = Counter(reason for found in rejects.values() for reason in found)
    return {"validated": len(df), "rejected": len(rejects), "reasons": dict(sorted(counts.items()))}
