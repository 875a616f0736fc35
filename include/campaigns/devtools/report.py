"""The campaign stats table printed by ``campaigns stats`` (and at the end of ``make demo``): per campaign its
enrolments and log counts, with the goals reached and the steps skipped by a frequency cap."""

from __future__ import annotations

from sqlalchemy import Engine, text
from tabulate import SEPARATING_LINE, tabulate

HEADERS = ("id", "broker", "name", "trigger", "channel", "status",
           "enrolled", "completed", "stopped", "sent", "failed", "skipped", "goal", "capped")
NUMERIC = HEADERS[6:]
TOP_REASONS = 5


def format_stats_table(engine: Engine) -> str:
    """Every campaign with its enrolment and log counts, a totals line, then the last pipeline run."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT o.campaign_id, o.broker_id, o.name, o.trigger_type, o.channel, o.status,"
            " o.enrolled, o.completed, o.stopped, o.sent, o.failed, o.skipped,"
            " coalesce(r.goal_reached, 0), coalesce(r.frequency_capped, 0)"
            " FROM campaign_overview o LEFT JOIN ("
            "   SELECT campaign_id, count(*) FILTER (WHERE reason = 'goal_reached') AS goal_reached,"
            "          count(*) FILTER (WHERE reason = 'frequency_capped') AS frequency_capped"
            "   FROM campaign_logs WHERE reason IN ('goal_reached', 'frequency_capped') GROUP BY campaign_id"
            " ) r ON r.campaign_id = o.campaign_id ORDER BY o.broker_id, o.campaign_id")).all()
        last_run = conn.execute(text(
            "SELECT run_id, run_at, mode, counts FROM pipeline_runs ORDER BY run_at DESC, run_id DESC LIMIT 1"
        )).first()
        set_aside = conn.execute(text("SELECT count(*) FROM lead_snapshots WHERE rejected")).scalar_one()
        reasons = conn.execute(text(
            "SELECT reason, count(*) AS n FROM lead_snapshots, unnest(reject_reasons) AS reason"
            " WHERE rejected GROUP BY reason ORDER BY n DESC, reason LIMIT :k"), {"k": TOP_REASONS}).all()
        errors = conn.execute(text("SELECT count(*) FROM campaign_enrolments WHERE status = 'ERROR'")).scalar_one()

    table: list = [list(r) for r in rows]
    totals = [sum(int(r[i]) for r in rows) for i in range(len(HEADERS) - len(NUMERIC), len(HEADERS))]
    table += [SEPARATING_LINE, ["", "", f"TOTAL ({len(rows)} campaigns)", "", "", "", *totals]]
    lines = [tabulate(table, headers=HEADERS, tablefmt="simple", disable_numparse=True,
                      colalign=("right", "right", "left", "left", "left", "left") + ("right",) * len(NUMERIC))]
    if last_run is None:
        lines.append("last run: none yet")
    else:
        counts = " ".join(f"{k}={v}" for k, v in sorted((last_run.counts or {}).items()))
        lines.append(f"last run: {last_run.run_id} at {last_run.run_at.isoformat()} ({last_run.mode})"
                     + (f": {counts}" if counts else ""))
    top = ", ".join(f"{reason}={n}" for reason, n in reasons)
    lines.append(f"leads set aside by validation (not read again until they change): {set_aside}"
                 + (f" (top reasons: {top})" if top else ""))
    if errors:
        lines.append(f"enrolments set aside by an engine error: {errors} (GET /api/v1/enrolments?status=ERROR)")
    return "\n".join(lines)
