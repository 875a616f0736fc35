"""Stage: copy the leads this run looks at into ``run_leads``, with the stage of their previous snapshot."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from sqlalchemy import Connection, Engine, text

from include.campaigns import triggers
from include.campaigns.engine.run import RunContext, record_counts
from include.campaigns.infra.database import (SqlFolder, allow_bulk_memory, analyze, few_rows_of, joins_by_key,
                                              price_key_lookups, temp_table)

SQL = SqlFolder(__file__)
ANALYZE_AFTER = 5_000  # rows bulk-loaded in a run after which the planner needs fresh statistics
WANTED_TABLE = "tmp_wanted_leads"
FEED_TRIGGERS = ("leads_record_inserts", "leads_record_updates")
# what validate, evaluate and enrol filter and join staged leads on (analysing every column cost 3x as much)
PLANNED_COLUMNS = ("run_id", "lead_id", "broker_id", "rejected", "stage", "prev_stage", "score", "last_activity_at")


class ChangeFeedBroken(RuntimeError):
    """The triggers that record writes to leads are missing or not ENABLE ALWAYS: a sweep would miss changes."""


def check_change_feed(conn: Connection) -> None:
    states = dict(conn.execute(SQL("change_feed_triggers"), {"names": list(FEED_TRIGGERS)}).all())
    broken = [f"{name} ({'missing' if name not in states else 'enabled=' + states[name]})"
              for name in FEED_TRIGGERS if states.get(name) != "A"]
    if broken:
        raise ChangeFeedBroken(f"the change feed on leads is broken: {', '.join(broken)}; sweeps would miss "
                               "changed leads. Re-create them with migration 0014_lead_change_feed.sql "
                               "(ALTER TABLE leads ENABLE ALWAYS TRIGGER ...)")


# stage_leads.sql's fragments, one set per source, staged in this order: the lead ids (the changed ones sorted, so
# they are probed in key order), which of them are staged, and what becomes of one staged already as wanted
STAGED_FROM = {
    "wanted": {"lead_ids": WANTED_TABLE, "condition": "true", "already_staged": ""},
    "changed": {"lead_ids": "(SELECT DISTINCT lead_id FROM run_lead_changes WHERE run_id = :run_id ORDER BY 1)",
                "condition": "(s.lead_id IS NULL OR (s.broker_id, s.stage, s.score, s.last_activity_at, s.email, "
                             "s.phone, s.timezone) IS DISTINCT FROM (l.broker_id, l.stage, l.score, "
                             "l.last_activity_at, l.email, l.phone, l.timezone))",
                "already_staged": "ON CONFLICT (run_id, lead_id) DO NOTHING"},
}


def wanted_leads_sql():
    after, upto = triggers.activity_window_sql()
    return SQL.templated("wanted_leads", automatic_types=triggers.automatic_sql(), window_after=after,
                         window_upto=upto)


def snapshot_leads(engine: Engine, run: RunContext) -> dict[str, Any]:
    """Stage the leads that can trigger something new (sweep), or the one lead (apply)."""
    with engine.begin() as conn:
        allow_bulk_memory(conn)  # the wanted-leads DISTINCT and the staging joins hash every lead of a first sweep
        price_key_lookups(conn)  # a steady hour's changed leads: probes into leads and snapshots, not a hash of all
        conn.execute(text("DELETE FROM run_leads WHERE run_id = :r"), {"r": run.run_id})
        counts: dict[str, Any] = {}
        if run.mode == "sweep":  # an apply reads its one lead and leaves the feed to the next sweep
            check_change_feed(conn)
            conn.execute(text("DELETE FROM run_lead_changes WHERE run_id = :r"), {"r": run.run_id})
            counts["lead_changes_read"] = conn.execute(SQL("read_lead_changes"), {"run_id": run.run_id}).rowcount
            if counts["lead_changes_read"] > ANALYZE_AFTER:
                analyze(conn, "run_lead_changes")
        # the leads wanted besides the changed ones, then all their rows: the planner sees how many before it
        # chooses how to read them. No key: wanted_leads.sql inserts distinct ids, and building a key row by row
        # cost more than the join
        temp_table(conn, WANTED_TABLE, "lead_id bigint")
        params = {"run_id": run.run_id, "lead_id": run.lead_id, "run_at": run.run_at}
        wanted = conn.execute(wanted_leads_sql(), params).rowcount
        if wanted > ANALYZE_AFTER:
            analyze(conn, WANTED_TABLE)
        staged = 0
        for source, rows in (("wanted", wanted), ("changed", counts.get("lead_changes_read", 0))):
            if rows:
                with joins_by_key(conn) if few_rows_of(conn, "leads", rows) else nullcontext():
                    staged += conn.execute(SQL.templated("stage_leads", **STAGED_FROM[source]), params).rowcount
        if run.mode == "apply" and staged == 0:
            raise LookupError(f"lead {run.lead_id} disappeared before the run could read it")
        counts["leads_staged"] = staged
        record_counts(conn, run.run_id, counts)
        if staged > ANALYZE_AFTER:
            analyze(conn, "run_leads", PLANNED_COLUMNS)
    return counts
