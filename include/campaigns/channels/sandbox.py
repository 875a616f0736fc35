"""The default, offline provider: it records what would be sent in ``outbound_messages``.

It behaves like a real provider where it matters for the engine: the idempotency key makes
a repeated send a no-op that returns the first answer, and it refuses the same kind of
recipients real providers refuse (test numbers ``+1500555...`` are unreachable, like
Twilio's magic numbers; addresses at ``.invalid`` domains bounce).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy import Engine, text

from include.campaigns.channels.base import DeliveryResult, OutboundMessage
from include.campaigns.channels.resilient import ResilientDelivery, RetryPolicy
from include.campaigns.infra.database import SqlFolder, copy_new_rows, copy_rows, temp_table_like

SQL = SqlFolder(__file__)
UNREACHABLE_PREFIX = "+1500555"

MESSAGE_COLUMNS = ("idempotency_key", "channel", "recipient", "subject", "body", "campaign_id", "lead_id",
                   "step_number", "status", "provider_ref", "error", "requested_at")  # of outbound_messages


def _refusal(message: OutboundMessage) -> str | None:
    if message.channel == "email":
        return "mailbox unavailable" if message.recipient.lower().endswith(".invalid") else None
    return "unreachable number" if message.recipient.startswith(UNREACHABLE_PREFIX) else None


class SandboxAdapter(ResilientDelivery):
    idempotent = True  # outbound_messages.idempotency_key is unique: a repeated key returns the first answer
    # A local database write: it only "hangs" behind a lock, and a big sweep's batch may take a while.
    default_retry_policy = RetryPolicy(timeout_seconds=300)

    def __init__(self, channel: str, settings: dict | None = None, engine: Engine | None = None) -> None:
        if engine is None:
            raise ValueError("the sandbox adapter records into the campaign database: pass engine")
        self.channel = channel
        self.engine = engine

    def deliver_once(self, messages: Sequence[OutboundMessage]) -> list[DeliveryResult]:
        rows = []
        for msg in messages:
            error = _refusal(msg)
            ref = None if error else "sbx-" + hashlib.sha1(msg.idempotency_key.encode()).hexdigest()[:12]
            rows.append((msg.idempotency_key, msg.channel, msg.recipient, msg.subject, msg.body, msg.campaign_id,
                         msg.lead_id, msg.step_number, "REJECTED" if error else "ACCEPTED", ref, error,
                         msg.requested_at))
        with self.engine.begin() as conn:  # COPY, not array parameters: psycopg builds arrays in Python
            # Its commit does not wait for the disk: the chunk that logs these sends commits after it, and WAL is
            # flushed in order, so the chunk's own commit makes this one durable first. Lost in a crash before
            # that, the records are written again by the chunk's retry, once (the idempotency key).
            conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
            if copy_new_rows(conn, "outbound_messages", MESSAGE_COLUMNS, rows):
                return [DeliveryResult(row[0], row[8] == "ACCEPTED", row[9], row[10]) for row in rows]
            # some were sent before (a retry): those keep their first answer, the others are recorded now
            temp_table_like(conn, "sandbox_batch", "outbound_messages", MESSAGE_COLUMNS)
            copy_rows(conn, "sandbox_batch", MESSAGE_COLUMNS, rows)
            stored = {r[0]: r for r in conn.execute(SQL("sandbox_record_messages"))}
            missing = [row[0] for row in rows if row[0] not in stored]
            stored.update((r[0], r) for r in conn.execute(text(
                "SELECT idempotency_key, status, provider_ref, error FROM outbound_messages "
                "WHERE idempotency_key = ANY(:keys)"), {"keys": missing}))
        return [DeliveryResult(key, status == "ACCEPTED", ref, err) for key, status, ref, err in stored.values()]
