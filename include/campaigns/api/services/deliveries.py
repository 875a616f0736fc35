"""Twilio's status callbacks: what became of a message or call, for the analysts (``message_deliveries``).

The step's log stays SENT whatever the receipt says. A delivery only moves forward
(``delivery_status_rank`` in migration 0010): callbacks arrive out of order and are retried, and a final
status (delivered, undelivered, failed, completed, busy, no-answer, ...) is never replaced by another.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from include.campaigns.api.services.errors import InvalidField
from include.campaigns.infra.database import SqlFolder

SQL = SqlFolder(__file__)


def _field(params: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = params.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def record_status(conn: Connection, params: Mapping[str, Any], key: str | None, now: datetime) -> dict[str, Any]:
    """Record the status a callback reports; ``recorded`` is false for a repeated, late or unknown one.

    ``key``: the idempotency key our status callback URL carries (signed with the URL)."""
    sid = _field(params, "MessageSid", "SmsSid", "CallSid")
    if sid is None:
        raise InvalidField("MessageSid", "required (or CallSid for a call)")
    status = _field(params, "MessageStatus", "SmsStatus", "CallStatus")
    if status is None:
        raise InvalidField("MessageStatus", "required (or CallStatus for a call)")
    row = conn.execute(SQL("record_delivery_status"), {
        "sid": sid, "status": status.lower(), "key": key or None, "now": now,
        "error_code": _field(params, "ErrorCode"), "error_message": _field(params, "ErrorMessage")}).first()
    return {"sid": sid, "status": status.lower(), "recorded": row is not None}
