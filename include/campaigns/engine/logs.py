"""campaign_logs and campaign_stats, written together so the stats always equal the logs.

Every log row goes through ``write_logs``: the unique keys of campaign_logs drop a row that
was already written (a retried task, an overlapping run), and only the rows really inserted
are added to campaign_stats, in the same transaction. The batch is COPYed straight into the log
first (``copy_new_rows``): a row already logged is rare, the claim's row locks and cursors keep a
step from running twice; only then does it go through a scratch table and ``ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection

from include.campaigns.infra.database import SqlFolder, copy_new_rows, copy_rows, temp_table_like

SQL = SqlFolder(__file__)
STATUSES = ("SENT", "FAILED", "SKIPPED")


class LogRow(NamedTuple):
    """One campaign_logs row, its fields in LOG_COLUMNS order (a tuple: the COPY writes it as it is)."""

    campaign_id: int
    lead_id: int
    step_number: int | None
    action: str | None
    status: str  # SENT | FAILED | SKIPPED
    reason: str | None
    executed_at: datetime
    run_id: str
    channel: str | None = None
    broker_id: int | None = None


LOG_COLUMNS = (
    "campaign_id", "lead_id", "step_number", "action", "status", "reason", "executed_at", "run_id",
    "channel", "broker_id",
)


def write_logs(conn: Connection, rows: Sequence[LogRow]) -> dict[str, int]:
    """Insert the rows that are not there yet and add them to the stats; return what was inserted."""
    if not rows:
        return dict.fromkeys(STATUSES, 0)
    if copy_new_rows(conn, "campaign_logs", LOG_COLUMNS, rows):
        inserted: Iterable[tuple[int, str]] = ((r.campaign_id, r.status) for r in rows)
    else:  # some were logged before: the others go in
        temp_table_like(conn, "log_batch", "campaign_logs", LOG_COLUMNS)
        copy_rows(conn, "log_batch", LOG_COLUMNS, rows)
        inserted = conn.execute(SQL("write_logs")).all()
    counts = Counter(inserted)
    campaign_ids = sorted({campaign_id for campaign_id, _ in counts})
    if campaign_ids:
        conn.execute(SQL("add_to_campaign_stats"), {
            "campaign_ids": campaign_ids, "updated_at": rows[0].executed_at,
            **{status.lower(): [counts[(c, status)] for c in campaign_ids] for status in STATUSES}})
    return {status: sum(n for (_, s), n in counts.items() if s == status) for status in STATUSES}
