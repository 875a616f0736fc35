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


@dataclass(frozen=True)
class DeliveryResult:
    idempotency_key: str
    ok: bool
    provider_ref: str | None = None
    error: str | None = None


@runtime_checkable
class ChannelAdapter(Protocol):
    """Deliver a batch; return one result per message, in any order. Must not raise for a
    per-message failure (that is a result with ok=False); may raise when the whole provider
    is unreachable, which fails every message of the batch."""

    channel: str

    def deliver(self, messages: Sequence[OutboundMessage]) -> list[DeliveryResult]: ...
