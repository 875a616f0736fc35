"""Provider adapters for tests, loaded the way real ones are (``module:Class`` in a connection)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from include.campaigns.channels import DeliveryResult, OutboundMessage, ResilientDelivery


class DownProvider(ResilientDelivery):
    """A provider that is unreachable: every call raises (and is retried, within the policy, by the base class)."""

    calls = 0

    def __init__(self, channel: str, settings: dict | None = None, engine=None) -> None:
        self.channel = channel

    def deliver_once(self, messages: Sequence[OutboundMessage]) -> list[DeliveryResult]:
        type(self).calls += 1
        raise ConnectionError("voice provider unreachable (503)")


class RecordingProvider:
    """Accepts everything, remembers every key it was asked to send (process-wide), optionally slowly."""

    sent: list[str] = []
    lock = threading.Lock()
    delay = 0.0

    def __init__(self, channel: str, settings: dict | None = None, engine=None) -> None:
        self.channel = channel

    def deliver(self, messages: Sequence[OutboundMessage]) -> list[DeliveryResult]:
        time.sleep(self.delay)
        with self.lock:
            self.sent.extend(m.idempotency_key for m in messages)
        return [DeliveryResult(m.idempotency_key, True, f"rec-{m.idempotency_key}") for m in messages]
