"""Write a chunk's outcome in its transaction: logs + stats, enrolment cursors, stage moves, appointments.

``ChunkWriter`` is the seam tests use to stop a chunk between sending and recording (a crash there must
not send twice on the retry).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from include.campaigns.engine.chunk import ChunkData
from include.campaigns.engine.logs import write_logs
from include.campaigns.engine.run import RunContext
from include.campaigns.engine.walker import ChunkOutcome
from include.campaigns.infra.database import SqlFolder, copy_rows, temp_table

SQL = SqlFolder(__file__)
PROGRESS_COLUMNS = ("campaign_id", "lead_id", "last_step_number", "last_step_at", "contacts_made", "status", "error",
                    "error_step")
HISTORY_COLUMNS = ("lead_id", "from_stage", "to_stage", "changed_at", "campaign_id", "step_number", "run_id")
APPOINTMENT_COLUMNS = ("broker_id", "lead_id", "agent_id", "starts_at", "ends_at", "campaign_id", "step_number",
                       "run_id", "created_at")
_LOCK_LEADS = "SELECT id FROM leads WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"


class ChunkWriter:
    def write(self, conn: Connection, run: RunContext, data: ChunkData, out: ChunkOutcome) -> dict[str, int]:
        """Everything the chunk decided; returns the log rows really inserted, by status. The logs go last: their
        statement updates campaign_stats, whose rows the chunks running beside this one update too, so they are
        locked only from there to the commit."""
        self.save_progress(conn, run, data)
        self.move_stages(conn, run, out)
        self.book_appointments(conn, run, out)
        return write_logs(conn, out.logs)

    def save_progress(self, conn: Connection, run: RunContext, data: ChunkData) -> None:
        touched = [e for e in data.enrolments if e.touched]
        if not touched:
            return
        temp_table(conn, "enrolment_progress", "campaign_id bigint, lead_id bigint, last_step_number int, "
                   "last_step_at timestamptz, contacts_made int, status text, error text, error_step int")
        copy_rows(conn, "enrolment_progress", PROGRESS_COLUMNS,
                  ((e.campaign_id, e.lead_id, e.last_step_number, e.anchor_at, e.contacts_made, e.status, e.error,
                    e.error_step) for e in touched))
        conn.execute(SQL("save_enrolment_progress"), {"run_at": run.run_at, "run_id": run.run_id})

    def move_stages(self, conn: Connection, run: RunContext, out: ChunkOutcome) -> None:
        moves = out.effects.stage_moves
        if not moves:
            return
        final = {m.lead_id: m.to_stage for m in moves}  # the last move of each lead wins
        ids = sorted(final)
        conn.execute(text(_LOCK_LEADS), {"ids": ids})
        conn.execute(SQL("move_lead_stages"), {"ids": ids, "stages": [final[i] for i in ids], "run_at": run.run_at})
        copy_rows(conn, "lead_stage_history", HISTORY_COLUMNS,
                  ((m.lead_id, m.from_stage, m.to_stage, run.run_at, m.campaign_id, m.step_number, run.run_id)
                   for m in moves))

    def book_appointments(self, conn: Connection, run: RunContext, out: ChunkOutcome) -> None:
        if out.effects.appointments:
            copy_rows(conn, "appointments", APPOINTMENT_COLUMNS,
                      ((a.broker_id, a.lead_id, a.agent_id, a.starts_at, a.ends_at, a.campaign_id, a.step_number,
                        run.run_id, run.run_at) for a in out.effects.appointments))
