"""Stage: validate a run's staged leads; keep the rejects with their reasons and flag them for the run.

Rejected rows go to ``lead_rejects`` with every reason, for the CRM team, and are flagged
``run_leads.rejected`` so the rest of the run ignores them. The stages a broker accepts are its own
(``pipeline_stages``); the pipelines used are recorded for the sweep (``run_pipelines``), so a broker whose
pipeline changes later is validated again. One transaction, set-based, idempotent: a retried
task finds the rejects already flagged, and ``ON CONFLICT DO NOTHING`` covers a concurrent duplicate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine

from include.campaigns.engine.run import RunContext
from include.campaigns.infra.database import SqlFolder, analyze, copy_frame, copy_rows, temp_table
from include.campaigns.quality.gx_runner import NUMERIC_COLUMNS, TIMESTAMP_COLUMNS, Rules, find_rejects
from include.campaigns.quality.expectations import LEAD_EXPECTATIONS

if TYPE_CHECKING:
    import pandas as pd

SQL = SqlFolder(__file__)
REJECTS_TABLE = "tmp_quality_rejects"
BATCH_ROWS = 200_000  # staged leads per GX validation


def staged_batches(conn: Connection, run_id: str, batch_rows: int) -> Iterator[pd.DataFrame]:
    """A run's staged leads still in play, ``batch_rows`` at a time in lead-id order, so memory stays bounded
    at any number of leads (GX copies its frame per expectation)."""
    after = -1
    while True:
        df = copy_frame(conn, SQL.source("staged_leads"),
                        {"run_id": run_id, "after_lead_id": after, "batch_rows": batch_rows},
                        numbers=("lead_id", "broker_id", *NUMERIC_COLUMNS), timestamps=TIMESTAMP_COLUMNS)
        if df.empty:
            return
        yield df
        after = int(df["lead_id"].iloc[-1])


def validate_snapshot(engine: Engine, run: RunContext, rules: Rules = LEAD_EXPECTATIONS,
                      batch_rows: int = BATCH_ROWS) -> dict[str, Any]:
    params = {"run_id": run.run_id, "run_at": run.run_at}
    validated, rejects = 0, {}
    pipelines: dict[int, tuple[str, ...]] = {}
    hashes: dict[int, str | None] = {}  # every staged broker: its pipeline's hash, None = no pipeline
    with engine.begin() as conn:
        for df in staged_batches(conn, run.run_id, batch_rows):
            validated += len(df)
            brokers = sorted(int(b) for b in df["broker_id"].dropna().unique())
            unseen = [b for b in brokers if b not in hashes]
            hashes.update(dict.fromkeys(unseen))
            for r in conn.execute(SQL("broker_pipelines"), {"ids": unseen}) if unseen else ():
                pipelines[r.broker_id], hashes[r.broker_id] = tuple(r.stages), r.pipeline_hash
            rejects.update(find_rejects(df, run.run_at, {b: pipelines[b] for b in brokers if b in pipelines}, rules))
        brokers = sorted(hashes)
        conn.execute(SQL("record_run_pipelines"), {"run_id": run.run_id, "brokers": brokers,
                                                   "hashes": [hashes[b] for b in brokers]})
        if rejects:
            temp_table(conn, REJECTS_TABLE, "lead_id bigint PRIMARY KEY, reasons text[] NOT NULL")
            copy_rows(conn, REJECTS_TABLE, ("lead_id", "reasons"), rejects.items())
            analyze(conn, REJECTS_TABLE)
            conn.execute(SQL("insert_rejects"), params)
            conn.execute(SQL("flag_rejected"), params)
    counts = Counter(reason for found in rejects.values() for reason in found)
    return {"validated": validated, "rejected": len(rejects), "reasons": dict(sorted(counts.items()))}
