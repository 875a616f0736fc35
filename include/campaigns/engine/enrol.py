"""Stage: enrol each matched lead once (FA-3); a sweep also advances the snapshots (valid and set-aside rows)
and the pipelines it validated against, in the same transaction."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from sqlalchemy import Connection, Engine, text

from include.campaigns.domain import vocabulary as v
from include.campaigns.engine.logs import LogRow, write_logs
from include.campaigns.engine.run import RunContext, record_counts
from include.campaigns.infra.database import SqlFolder, analyze_if_grown, few_rows_of, joins_by_key, price_key_lookups

SQL = SqlFolder(__file__)


def enrol_leads(engine: Engine, run: RunContext) -> dict[str, Any]:
    params = {"run_id": run.run_id, "run_at": run.run_at}
    with engine.begin() as conn:
        price_key_lookups(conn)  # the snapshot update of a steady hour: its changed leads by key
        enrolled = conn.execute(SQL("enrol_matches"), params).rowcount
        analyze_if_grown(conn, "campaign_enrolments", enrolled)  # the plan, next, reads them by these statistics
        counts: dict[str, Any] = {"enrolled": enrolled}
        if run.mode == "sweep":
            counts["snapshots_advanced"] = conn.execute(SQL("insert_snapshots"), params).rowcount
            staged = conn.execute(text("SELECT count(*) FROM run_leads WHERE run_id = :run_id"), params).scalar_one()
            with joins_by_key(conn) if few_rows_of(conn, "lead_snapshots", staged) else nullcontext():
                counts["snapshots_advanced"] += conn.execute(SQL("update_snapshots"), params).rowcount
            conn.execute(SQL("consume_lead_changes"), params)
            conn.execute(SQL("record_pipelines"), params)
            conn.execute(SQL("record_sweep"), params)
        else:
            counts.update(apply_outcome(conn, run, enrolled))
        record_counts(conn, run.run_id, counts)
    return counts


def apply_outcome(conn: Connection, run: RunContext, enrolled: int) -> dict[str, Any]:
    """Apply-to-lead writes one campaign-level SKIPPED entry when it does not enrol (seed FA-3)."""
    if enrolled:
        return {"apply_outcome": "enrolled"}
    pair = {"r": run.run_id, "c": run.campaign_id, "l": run.lead_id}
    matched = conn.execute(
        text("SELECT 1 FROM run_trigger_matches WHERE run_id = :r AND campaign_id = :c AND lead_id = :l"), pair).first()
    rejected = conn.execute(
        text("SELECT reasons FROM lead_rejects WHERE run_id = :r AND lead_id = :l"), pair).scalar()
    if rejected is not None:  # set aside by validation: the trigger was never judged
        reason = f"{v.LEAD_REJECTED}: {', '.join(rejected)}"
    elif matched:
        enrolled_by = conn.execute(
            text("SELECT enrolled_run_id FROM campaign_enrolments WHERE campaign_id = :c AND lead_id = :l"),
            pair).scalar_one()
        if enrolled_by == run.run_id:  # this run enrolled it on an earlier try
            return {"apply_outcome": "enrolled"}
        reason = v.ALREADY_ENROLLED
    else:
        reason = v.TRIGGER_NOT_MET
    broker_id = conn.execute(text("SELECT broker_id FROM campaigns WHERE id = :c"), pair).scalar()
    write_logs(conn, [LogRow(run.campaign_id, run.lead_id, None, None, "SKIPPED", reason, run.run_at, run.run_id,
                             None, broker_id)])
    return {"apply_outcome": reason.split(":")[0]}
