"""A followed unsubscribe link (``channels/unsubscribe.py`` signs them): the lead is not contacted again.

Idempotent: the link's (lead, campaign, step) is recorded once in ``lead_replies`` and ``do_not_contact``
only goes from false to true, so a second click (or a mail client's one-click POST after the click)
changes nothing. A bad signature is refused before anything is read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from include.campaigns.channels.unsubscribe import Target
from include.campaigns.infra.database import SqlFolder

SQL = SqlFolder(__file__)


def unsubscribe(conn: Connection, target: Target, now: datetime) -> dict[str, Any]:
    r = conn.execute(SQL("unsubscribe_lead"), {
        "lead": target.lead_id, "ref": f"{target.lead_id}:{target.campaign_id}:{target.step_number}",
        "now": now}).one()
    return {"found": bool(r.found), "recorded": bool(r.recorded), "flagged": bool(r.flagged),
            "broker_name": r.broker_name}
