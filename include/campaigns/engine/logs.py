"""campaign_logs and campaign_stats, written together so the stats always equal the logs.

Every log row goes through ``write_logs``: the unique keys of campaign_logs drop a row that
was already written (a retried task, an overlapping run), and only the rows really inserted
are added to campaign_stats, in the same statement and transaction. The batch goes in as a plain
insert first (``insert_once``): a row already logged is rare, the claim's row locks and cursors keep a
step from running twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection

from include.campaigns.infra.database import SqlFolder, copy_rows, insert_once, temp_table_like

SQL = SqlFolder(__file__)


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
        return {"SENT": 0, "FAILED": 0, "SKIPPED": 0}
    temp_table_like(conn, "log_batch", "campaign_logs", LOG_COLUMNS)
    copy_rows(conn, "log_batch", LOG_COLUMNS, rows)
    [(sent, failed, skipped)] = insert_once(conn, SQL, "write_logs", "ON CONFLICT DO NOTHING",
                                            {"updated_at": rows[0].executed_at})
    return {"SENT": int(sent), "FAILED": int(failed), "SKIPPED": int(skipped)}
