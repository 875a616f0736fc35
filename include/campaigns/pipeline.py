"""The stages of one run before and after execution: snapshot, evaluate, enrol, plan, finish.

Each stage is one function the DAG calls from one task. Each is idempotent: it first removes
what an earlier attempt of the same run wrote to the run's scratch tables, and its durable
writes are guarded by unique keys.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from sqlalchemy import Engine, text

from include.campaigns import domain
from include.campaigns.db import analyze, copy_rows, statement
from include.campaigns.logs import LogRow, write_logs
from include.campaigns.run import RunContext, record_counts
from rules.triggers import TriggerDefinition, evaluate

SCRATCH_TABLES = ("run_leads", "run_trigger_matches", "run_plan")
ANALYZE_AFTER = 5_000  # rows bulk-loaded in a run after which the planner needs fresh statistics


def snapshot_leads(engine: Engine, run: RunContext) -> dict[str, Any]:
    """Copy the leads this run looks at into run_leads, with the stage of their previous snapshot."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM run_leads WHERE run_id = :r"), {"r": run.run_id})
        staged = conn.execute(statement("stage_leads"),
                              {"run_id": run.run_id, "lead_id": run.lead_id, "run_at": run.run_at}).rowcount
        if run.mode == "apply" and staged == 0:
            raise LookupError(f"lead {run.lead_id} disappeared before the run could read it")
        counts = {"leads_staged": staged}
        record_counts(conn, run.run_id, counts)
        if staged > ANALYZE_AFTER:
            analyze(conn, "run_leads")
    return counts


def trigger_definitions(engine: Engine, run: RunContext) -> list[tuple[TriggerDefinition, str]]:
    """The campaigns this run evaluates, each with the hash of its trigger definition."""
    if run.mode == "apply":
        where, params = "id = :id AND status = 'ACTIVE'", {"id": run.campaign_id}
    else:
        where, params = "status = 'ACTIVE' AND trigger_type <> 'MANUAL'", {}
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT id, broker_id, trigger_type, trigger_config, "
            "md5(broker_id::text || trigger_type || trigger_config::text) AS definition_hash "
            f"FROM campaigns WHERE {where} ORDER BY id"), params).all()
    return [(TriggerDefinition(r.id, r.broker_id, r.trigger_type, r.trigger_config or {}), r.definition_hash)
            for r in rows]


EVENT_FIELDS = ("lead_id", "campaign_id", "broker_id", "score", "stage", "stage_changed", "days_inactive")
PARALLEL_EVENTS = 100_000  # events per worker below which starting a worker process costs more than it saves


def rule_workers() -> int:
    return max(1, int(os.environ.get("CAMPAIGNS_RULE_WORKERS", os.cpu_count() or 1)))


def _evaluate_shard(definitions: list[TriggerDefinition], rows: list[tuple], mode: str) -> list[tuple[int, int]]:
    """Evaluate one shard of candidate rows (a worker process may run this)."""
    events = ({**dict(zip(EVENT_FIELDS, r)), "stage_changed": bool(r[5]), "mode": mode} for r in rows)
    return evaluate(definitions, events)


def match_candidates(definitions: list[TriggerDefinition], rows: list[tuple], mode: str) -> list[tuple[int, int]]:
    """durable-rules spends its time in Python per event, so big runs are sharded over processes
    (spawned: a worker shares no database connection with the task)."""
    workers = min(rule_workers(), len(rows) // PARALLEL_EVENTS or 1)
    if workers <= 1:
        return _evaluate_shard(definitions, rows, mode)
    shards = [rows[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = pool.map(_evaluate_shard, [definitions] * workers, shards, [mode] * workers)
        return [m for part in parts for m in part]


def evaluate_triggers(engine: Engine, run: RunContext) -> dict[str, Any]:
    """Ask the rulesets which (campaign, lead) pairs trigger; store the matches for enrolment.

    A sweep also records which trigger definitions it evaluated (see stage_leads.sql)."""
    evaluated = trigger_definitions(engine, run)
    definitions = [d for d, _ in evaluated]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM run_trigger_matches WHERE run_id = :r"), {"r": run.run_id})
        rows = [tuple(r) for r in conn.execute(
            statement("trigger_candidates"),
            {"run_id": run.run_id, "run_at": run.run_at, "campaign_id": run.campaign_id},
        )]
        matches = sorted(set(match_candidates(definitions, rows, run.mode))) if definitions else []
        copy_rows(conn, "run_trigger_matches", ("run_id", "campaign_id", "lead_id"),
                  ((run.run_id, c, lead) for c, lead in matches))
        if run.mode == "sweep" and evaluated:
            conn.execute(statement("record_evaluations"), {
                "ids": [d.campaign_id for d, _ in evaluated], "hashes": [h for _, h in evaluated],
                "run_at": run.run_at, "run_id": run.run_id,
            })
        counts = {"trigger_candidates": len(rows), "trigger_matches": len(matches),
                  "active_trigger_campaigns": len(definitions)}
        record_counts(conn, run.run_id, counts)
    return counts


def enrol_leads(engine: Engine, run: RunContext) -> dict[str, Any]:
    """Enrol matched leads once; a sweep also advances the snapshots, in the same transaction."""
    params = {"run_id": run.run_id, "run_at": run.run_at}
    with engine.begin() as conn:
        enrolled = conn.execute(statement("enrol_matches"), params).rowcount
        if enrolled > ANALYZE_AFTER:
            analyze(conn, "campaign_enrolments")
        counts: dict[str, Any] = {"enrolled": enrolled}
        if run.mode == "sweep":
            counts["snapshots_advanced"] = conn.execute(statement("advance_snapshots"), params).rowcount
            conn.execute(statement("record_sweep"), params)
        else:
            counts.update(_apply_outcome(conn, run, enrolled))
        record_counts(conn, run.run_id, counts)
    return counts


def _apply_outcome(conn, run: RunContext, enrolled: int) -> dict[str, Any]:
    """Apply-to-lead writes one campaign-level SKIPPED entry when it does not enrol (seed FA-3)."""
    if enrolled:
        return {"apply_outcome": "enrolled"}
    matched = conn.execute(
        text("SELECT 1 FROM run_trigger_matches WHERE run_id = :r AND campaign_id = :c AND lead_id = :l"),
        {"r": run.run_id, "c": run.campaign_id, "l": run.lead_id},
    ).first()
    rejected = conn.execute(
        text("SELECT reasons FROM lead_rejects WHERE run_id = :r AND lead_id = :l"), {"r": run.run_id, "l": run.lead_id}
    ).scalar()
    if rejected is not None:  # set aside by validation: the trigger was never judged
        reason = f"{domain.LEAD_REJECTED}: {', '.join(rejected)}"
    elif matched:
        enrolled_by = conn.execute(
            text("SELECT enrolled_run_id FROM campaign_enrolments WHERE campaign_id = :c AND lead_id = :l"),
            {"c": run.campaign_id, "l": run.lead_id},
        ).scalar_one()
        if enrolled_by == run.run_id:  # this run enrolled it on an earlier try
            return {"apply_outcome": "enrolled"}
        reason = domain.ALREADY_ENROLLED
    else:
        reason = domain.TRIGGER_NOT_MET
    broker_id = conn.execute(text("SELECT broker_id FROM campaigns WHERE id = :c"), {"c": run.campaign_id}).scalar()
    write_logs(conn, [LogRow(run.campaign_id, run.lead_id, None, None, "SKIPPED", reason, run.run_at, run.run_id,
                             None, broker_id)])
    return {"apply_outcome": reason.split(":")[0]}


def plan_due_steps(engine: Engine, run: RunContext, max_chunks: int = 16, min_chunk_size: int = 2000) -> list[int]:
    """Write the run's plan (enrolments with a due step) split into chunks; return the chunk numbers."""
    params = {"run_id": run.run_id, "run_at": run.run_at, "campaign_id": run.campaign_id, "lead_id": run.lead_id,
              "max_chunks": max_chunks, "min_chunk_size": max(1, min_chunk_size)}
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM run_plan WHERE run_id = :r"), {"r": run.run_id})
        due = conn.execute(statement("plan_due_enrolments"), params).rowcount
        chunks = conn.execute(text("SELECT count(DISTINCT chunk_no) FROM run_plan WHERE run_id = :r"),
                              {"r": run.run_id}).scalar_one()
        if due > ANALYZE_AFTER:
            analyze(conn, "run_plan")
        record_counts(conn, run.run_id, {"enrolments_due": due, "chunks": chunks})
    return list(range(chunks))


def finish_run(engine: Engine, run: RunContext) -> dict[str, Any]:
    """Summarise what the run wrote, close its pipeline_runs row and drop its scratch rows."""
    with engine.begin() as conn:
        logged = dict(conn.execute(
            text("SELECT status, count(*) FROM campaign_logs WHERE run_id = :r GROUP BY status"), {"r": run.run_id}
        ).all())
        rejected = conn.execute(
            text("SELECT count(*) FROM lead_rejects WHERE run_id = :r"), {"r": run.run_id}
        ).scalar_one()
        counts = {"logs_sent": logged.get("SENT", 0), "logs_failed": logged.get("FAILED", 0),
                  "logs_skipped": logged.get("SKIPPED", 0), "leads_rejected": rejected}
        record_counts(conn, run.run_id, counts)
        conn.execute(text("UPDATE pipeline_runs SET finished_at = :t WHERE run_id = :r"),
                     {"t": run.run_at, "r": run.run_id})
        for table in SCRATCH_TABLES:
            conn.execute(text(f"DELETE FROM {table} WHERE run_id = :r"), {"r": run.run_id})
        summary = conn.execute(text("SELECT counts FROM pipeline_runs WHERE run_id = :r"), {"r": run.run_id}).scalar_one()
    return summary
