"""The adapter interface shared by every channel (whatsapp, sms, email, voice)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class OutboundMessage:
    """One message or call. ``idempotency_key`` is stable per (campaign, lead, step): a provider
    that sees it twice must not send twice, which makes a retried task safe."""

    idempotency_key: str
    channel: str  # whatsapp | sms | email | voice
    recipient: str
    body: str
    subject: str | None
    campaign_id: int
    lead_id: int
    step_number: int
    requested_at: datetime
    broker_id: int | None = None  # the campaign's broker (a provider may send from that broker's own number)
    language: str | None = None  # BCP-47 tag a voice call speaks in (``channels/language.py``), None = the provider's


@dataclass(frozen=True)
class DeliveryResult:
    """The provider's answer for one message.

    ``retryable``: the failure is transient (HTTP 429/5xx, a timeout, a dropped connection), so
    asking again may succeed; ``maybe_sent``: the message may have gone out all the same (no answer
    in time, connection reset after the request was written). ``channels/resilient.py`` retries a
    retryable result with the same idempotency key -- a ``maybe_sent`` one only when the provider
    deduplicates by key."""

    idempotency_key: str
    ok: bool
    provider_ref: str | None = None
    error: str | None = None
    retryable: bool = False
    maybe_sent: bool = False


@runtime_checkable
class ChannelAdapter(Protocol):
    """Deliver a batch; return one result per message, in any order. Must not raise for a
    per-message failure (that is a result with ok=False); may raise when the whole provider
    is unreachable, which fails every message of the batch (raise ``ProviderError`` with an
    HTTP-like status, ``TimeoutError`` or ``ConnectionError`` so the retry policy can tell a
    transient failure from a permanent one).

    The registry makes every adapter resilient (``channels/resilient.py``): per-call timeout, bounded retries
    with backoff, and the same idempotency key on every attempt. An adapter whose provider cannot
    deduplicate by key sets ``idempotent = False``: a call that may have gone out is then never
    repeated."""

    channel: str

    def deliver(self, messages: Sequence[OutboundMessage]) -> list[DeliveryResult]: ...
