"""Never send twice to a provider that cannot deduplicate: claim each key in ``message_deliveries`` first.

Twilio's REST API and SMTP have no idempotency key of their own. So before a request goes out, the adapter
claims the message's key (``campaign:lead:step``) in ``message_deliveries`` (status ``requesting``, committed):
only the attempt that claimed a key sends it. What the provider answers is recorded on the same row (its id:
the Twilio SID or the SMTP Message-ID, its status, its error code), and a later attempt with the same key gets
that first answer back without asking the provider again.

Per answer:

* ``sent`` -- recorded with the provider's id; the step is SENT;
* ``refused`` -- a permanent refusal (Twilio 21211, SMTP 5xx): recorded as ``failed`` with the code, FAILED;
* ``not_sent`` -- the provider certainly did not send it (an error answer such as 429/5xx or SMTP 4xx, a refused
  connection): the claim is released and the retry policy may try again;
* ``unknown`` -- no answer (a timeout, a connection dropped mid-request): the claim stays. A later attempt
  asks the adapter to ``reconcile`` (Twilio: find the message in the account's list); while it cannot, the
  message is never sent again and its step ends FAILED "outcome unknown".

Batches are handled in slices (``SLICE``): claim, send, record, so a crash loses at most one slice's answers,
and those are reconciled, never re-sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, text

from include.campaigns.channels.base import DeliveryResult, OutboundMessage
from include.campaigns.channels.resilient import ResilientDelivery
from include.campaigns.infra.database import SqlFolder, copy_rows, temp_table

SQL = SqlFolder(__file__)
SLICE = 50
_BATCH_COLUMNS = ("idempotency_key", "campaign_id", "lead_id", "step_number", "broker_id", "channel", "requested_at")
_RESULT_COLUMNS = ("idempotency_key", "provider_ref", "status", "error_code", "error_message")
REQUESTING = "requesting"


@dataclass(frozen=True)
class Entry:
    """A key's row in ``message_deliveries``."""

    key: str
    provider: str
    provider_ref: str | None
    status: str
    error_code: str | None
    error_message: str | None
    updated_at: datetime


@dataclass(frozen=True)
class Attempt:
    """What one provider request did for one message (see the module docstring for ``state``)."""

    key: str
    state: str  # sent | refused | not_sent | unknown
    provider_ref: str | None = None
    status: str | None = None  # the provider's status word ("queued", "sent", "failed")
    error_code: str | None = None
    error: str | None = None


class DeliveryLedger:
    def __init__(self, engine: Engine, provider: str) -> None:
        self.engine, self.provider = engine, provider

    def claim(self, messages: Sequence[OutboundMessage]) -> tuple[set[str], dict[str, Entry]]:
        """(keys claimed now, entries of every key of the batch) in one transaction."""
        with self.engine.begin() as conn:
            temp_table(conn, "ledger_batch", "idempotency_key text PRIMARY KEY, campaign_id bigint, lead_id bigint, "
                       "step_number int, broker_id bigint, channel text, requested_at timestamptz")
            copy_rows(conn, "ledger_batch", _BATCH_COLUMNS, (
                (m.idempotency_key, m.campaign_id, m.lead_id, m.step_number, m.broker_id, m.channel, m.requested_at)
                for m in messages))
            claimed = {r[0] for r in conn.execute(SQL("ledger_claim"), {"provider": self.provider})}
            entries = {r.idempotency_key: Entry(*r) for r in conn.execute(SQL("ledger_entries"))}
        return claimed, entries

    def record(self, attempts: Iterable[Attempt]) -> None:
        rows = [(a.key, a.provider_ref, a.status or ("failed" if a.state == "refused" else None), a.error_code,
                 a.error if a.state == "refused" else None) for a in attempts if a.state in ("sent", "refused")]
        if not rows:
            return
        with self.engine.begin() as conn:
            temp_table(conn, "ledger_result", "idempotency_key text PRIMARY KEY, provider_ref text, status text, "
                       "error_code text, error_message text")
            copy_rows(conn, "ledger_result", _RESULT_COLUMNS, rows)
            conn.execute(SQL("ledger_record"))

    def release(self, keys: Sequence[str]) -> None:
        if keys:
            with self.engine.begin() as conn:
                conn.execute(SQL("ledger_release"), {"keys": list(keys), "provider": self.provider})

    def known_refs(self, refs: Sequence[str]) -> set[str]:
        """Which of these provider ids some key already holds."""
        if not refs:
            return set()
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(text(
                "SELECT provider_ref FROM message_deliveries WHERE provider = :p AND provider_ref = ANY(:refs)"),
                {"p": self.provider, "refs": list(refs)})}


def result_of(attempt: Attempt) -> DeliveryResult:
    """What the retry policy and the executor see of an attempt."""
    if attempt.state == "sent":
        return DeliveryResult(attempt.key, True, attempt.provider_ref)
    if attempt.state == "refused":
        return DeliveryResult(attempt.key, False, error=attempt.error)
    return DeliveryResult(attempt.key, False, error=attempt.error, retryable=True, maybe_sent=attempt.state == "unknown")


def answer_of(entry: Entry) -> DeliveryResult | None:
    """The first answer a key already has, or None while its first request is unanswered."""
    if entry.provider_ref:
        return DeliveryResult(entry.key, True, entry.provider_ref)
    if entry.status == REQUESTING:
        return None
    code = f" {entry.error_code}" if entry.error_code else ""
    return DeliveryResult(entry.key, False, error=entry.error_message or f"{entry.provider}{code}: {entry.status}")


class LedgerDelivery(ResilientDelivery):
    """Base of the adapters whose provider cannot deduplicate by key: the ledger does it for them.

    Subclasses set ``provider`` and implement ``send(messages) -> [Attempt]`` (one request per message) and,
    if the provider lets us look a message up, ``reconcile(pairs) -> {key: Attempt}`` for claims whose answer
    was lost."""

    provider: str
    idempotent = True  # the ledger makes a repeated key return its first answer
    ledger: DeliveryLedger

    def send(self, messages: Sequence[OutboundMessage]) -> list[Attempt]:  # pragma: no cover
        raise NotImplementedError

    def reconcile(self, pending: Sequence[tuple[OutboundMessage, Entry]]) -> dict[str, Attempt]:
        return {}

    @property
    def can_reconcile(self) -> bool:
        return type(self).reconcile is not LedgerDelivery.reconcile

    def deliver_once(self, messages: Sequence[OutboundMessage]) -> list[DeliveryResult]:
        out: dict[str, DeliveryResult] = {}
        for i in range(0, len(messages), SLICE):
            out.update(self._deliver_slice(messages[i:i + SLICE]))
        return [out[m.idempotency_key] for m in messages]

    def _deliver_slice(self, messages: Sequence[OutboundMessage]) -> dict[str, DeliveryResult]:
        claimed, entries = self.ledger.claim(messages)
        out: dict[str, DeliveryResult] = {}
        pending: list[tuple[OutboundMessage, Entry]] = []
        for m in messages:
            if m.idempotency_key in claimed:
                continue
            answer = answer_of(entries[m.idempotency_key])
            if answer is not None:
                out[m.idempotency_key] = answer
            else:
                pending.append((m, entries[m.idempotency_key]))
        if pending:
            found = self.reconcile(pending)
            self.ledger.record(found.values())
            for m, _entry in pending:
                key = m.idempotency_key
                out[key] = result_of(found[key]) if key in found else DeliveryResult(
                    key, False, error=f"outcome unknown: an earlier {self.provider} request for this message got no "
                                      "answer", retryable=self.can_reconcile, maybe_sent=True)
        fresh = [m for m in messages if m.idempotency_key in claimed]
        if fresh:
            attempts = self.send(fresh)
            self.ledger.record(attempts)
            self.ledger.release([a.key for a in attempts if a.state == "not_sent"])
            out.update({a.key: result_of(a) for a in attempts})
        return out
