"""Stage: ask the trigger rulesets which (campaign, lead) pairs match; store the matches for enrolment.

durable-rules spends ~30 us of Python per event, so the rules are asked once per distinct combination of the
facts a campaign's rule reads (``TriggerType.facts``): pairs with the same facts share the verdict, and a
million leads make a few thousand events; each trigger type's exact SQL pre-filter keeps out pairs that
cannot match. The rules still decide every event. Many events are sharded over worker processes (spawned:
a worker shares no database connection with the task). A sweep also records which trigger definitions it
evaluated, so the next sweep knows which brokers it must re-read (``sql/stage_leads.sql``).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from sqlalchemy import Engine, text

from include.campaigns import triggers
from include.campaigns.engine.run import RunContext, record_counts
from include.campaigns.infra.database import SqlFolder, analyze, copy_rows, temp_table
from include.campaigns.triggers import EVENT_FIELDS, TriggerDefinition
from rules.campaign_triggers import evaluate

SQL = SqlFolder(__file__)
PARALLEL_EVENTS = 100_000  # events per worker below which starting a worker process costs more than it saves
ANALYZE_AFTER = 5_000


def rule_workers() -> int:
    return max(1, int(os.environ.get("CAMPAIGNS_RULE_WORKERS", os.cpu_count() or 1)))


def trigger_definitions(engine: Engine, run: RunContext) -> list[tuple[TriggerDefinition, str]]:
    """The campaigns this run evaluates, each with the hash of its trigger definition.

    An ACTIVE campaign with a trigger type no module defines fails the stage, naming it."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT id, broker_id, trigger_type, trigger_config, "
            "campaign_trigger_hash(broker_id, trigger_type, trigger_config) AS definition_hash "
            "FROM campaigns WHERE status = 'ACTIVE' AND (CAST(:id AS bigint) IS NULL OR id = :id) ORDER BY id"),
            {"id": run.campaign_id}).all()
    for r in rows:
        if r.trigger_type not in triggers.REGISTRY:
            known = ", ".join(triggers.TRIGGER_TYPES)
            raise triggers.UnknownTriggerType(f"campaign {r.id}: unknown trigger_type {r.trigger_type!r} (known: {known})")
    return [(TriggerDefinition(r.id, r.broker_id, r.trigger_type, r.trigger_config or {}), r.definition_hash)
            for r in rows if run.mode == "apply" or r.trigger_type in triggers.AUTOMATIC]


def _evaluate_shard(definitions: list[TriggerDefinition], rows: list[tuple], mode: str) -> list[tuple[int, int]]:
    """Evaluate one shard of candidate rows (a worker process may run this)."""
    events = ({**dict(zip(EVENT_FIELDS, r)), "stage_changed": bool(r[5]), "mode": mode} for r in rows)
    return evaluate(definitions, events)


def match_candidates(definitions: list[TriggerDefinition], rows: list[tuple], mode: str,
                     workers: int | None = None, parallel_events: int = PARALLEL_EVENTS) -> list[tuple[int, int]]:
    """The matching (campaign_id, lead_id) pairs among the candidate rows, sharded when there are many."""
    workers = min(workers or rule_workers(), len(rows) // parallel_events or 1)
    if workers <= 1:
        return _evaluate_shard(definitions, rows, mode)
    shards = [rows[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = pool.map(_evaluate_shard, [definitions] * workers, shards, [mode] * workers)
        return [m for part in parts for m in part]


CANDIDATES_TABLE = ("lead_id bigint, campaign_id bigint, broker_id bigint, score int, stage text, "
                    "stage_changed boolean, days_inactive float8, event_id bigint")


def candidates_sql():
    return SQL.templated("trigger_candidates", prefilter=triggers.prefilter_sql(),
                         automatic_types=triggers.automatic_sql(),
                         **{fact: triggers.fact_sql(fact) for fact in triggers.FACTS})


def evaluate_triggers(engine: Engine, run: RunContext) -> dict[str, Any]:
    evaluated = trigger_definitions(engine, run)
    definitions = [d for d, _ in evaluated]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM run_trigger_matches WHERE run_id = :r"), {"r": run.run_id})
        temp_table(conn, "candidates", CANDIDATES_TABLE)
        pairs = conn.execute(candidates_sql(),
                             {"run_id": run.run_id, "run_at": run.run_at, "campaign_id": run.campaign_id}).rowcount
        events = [tuple(r) for r in conn.execute(SQL("candidate_events"))]
        matched = sorted({e for _c, e in match_candidates(definitions, events, run.mode)}) if definitions else []
        temp_table(conn, "matched_events", "event_id bigint PRIMARY KEY")
        copy_rows(conn, "matched_events", ("event_id",), ((e,) for e in matched))
        if pairs > ANALYZE_AFTER:
            analyze(conn, "candidates")
        matches = conn.execute(SQL("insert_matches"), {"run_id": run.run_id}).rowcount
        if run.mode == "sweep" and evaluated:
            conn.execute(SQL("record_evaluations"), {
                "ids": [d.campaign_id for d, _ in evaluated], "hashes": [h for _, h in evaluated],
                "run_at": run.run_at, "run_id": run.run_id,
            })
        counts = {"trigger_candidates": pairs, "trigger_events": len(events), "trigger_matches": matches,
                  "active_trigger_campaigns": len(definitions)}
        record_counts(conn, run.run_id, counts)
    return counts
