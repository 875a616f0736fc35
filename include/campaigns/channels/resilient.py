"""Calling a provider that may be slow, down or flaky, without ever sending a message twice.

Every adapter the registry hands to the executor goes through ``deliver_with_retries``:

* **per-call timeout** (``timeout_seconds``): the provider call runs in a helper thread and the
  executor stops waiting after the timeout. A call that timed out *may have gone out* (the provider
  can answer "accepted" a second later), so it is treated as "outcome unknown", never as "not sent";
* **bounded retries** (``max_attempts``, exponential ``backoff_seconds`` with jitter, capped at
  ``max_backoff_seconds``) for transient failures only: a timeout, a dropped connection, HTTP 429 or
  5xx. A permanent refusal (HTTP 4xx, "invalid number") is not retried: the step is ``FAILED`` with
  the provider's own reason;
* **never a blind repeat**: a retry re-sends the *same* message with the *same* idempotency key
  (``campaign:lead:step``), so a provider that already has it answers with its first answer instead
  of sending again. An adapter whose provider cannot deduplicate by key declares
  ``idempotent = False``; then a call that may have gone out is never repeated: its messages are
  ``FAILED`` with "outcome unknown", and only failures the provider reports as "not sent"
  (``ProviderError(sent=False)``, a refused connection, a ``retryable`` result) are retried.

Worst case per batch: ``max_attempts * timeout_seconds`` plus the backoffs (defaults: 3 x 30 s + 1.5 s).
The policy comes from the extra of the channel's Airflow connection, e.g.
``{"adapter": "...", "timeout_seconds": 10, "max_attempts": 4, "backoff_seconds": 1}``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from include.campaigns.channels.base import DeliveryResult, OutboundMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    timeout_seconds: float | None = 30.0
    max_attempts: int = 3
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 8.0

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any] | None, default: RetryPolicy | None = None) -> RetryPolicy:
        """The policy named in a connection's extra; absent keys keep the adapter's (or the class's) defaults."""
        extra = extra or {}
        default = default or cls()
        timeout = extra.get("timeout_seconds", default.timeout_seconds)
        policy = cls(
            timeout_seconds=None if timeout in (None, 0) else float(timeout),
            max_attempts=int(extra.get("max_attempts", default.max_attempts)),
            backoff_seconds=float(extra.get("backoff_seconds", default.backoff_seconds)),
            max_backoff_seconds=float(extra.get("max_backoff_seconds", default.max_backoff_seconds)),
        )
        if policy.max_attempts < 1 or policy.backoff_seconds < 0 or (policy.timeout_seconds or 1) < 0:
            raise ValueError(f"invalid retry policy in the channel connection's extra: {policy}")
        return policy

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based): exponential, capped, jittered."""
        return min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


class ProviderError(Exception):
    """A failed provider call. ``status`` is HTTP-like; 429 and 5xx are transient (retryable) unless
    ``retryable`` says otherwise. ``sent=False`` means the provider certainly did not send anything
    (safe to retry even without idempotency); ``None`` means unknown."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool | None = None,
                 sent: bool | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable if retryable is not None else status is not None and (status >= 500 or status == 429)
        self.sent = sent


class ProviderTimeout(ProviderError, TimeoutError):
    """No answer within the per-call timeout: the messages may or may not have gone out."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True, sent=None)


def classify(exc: BaseException) -> tuple[bool, bool]:
    """(retryable, may_have_been_sent) for an exception raised by a provider call."""
    if isinstance(exc, ProviderError):
        return exc.retryable, exc.sent is not False
    if isinstance(exc, ConnectionRefusedError):
        return True, False
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True, True
    if getattr(exc, "connection_invalidated", False):  # SQLAlchemy: the database connection dropped
        return True, True
    return False, True


def _call_with_timeout(call: Callable[[list[OutboundMessage]], list[DeliveryResult]], batch: list[OutboundMessage],
                       timeout: float | None, channel: str) -> list[DeliveryResult]:
    if not timeout:
        return list(call(batch))
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["result"] = list(call(batch))
        except BaseException as exc:  # handed back to the caller's thread
            box["error"] = exc
        finally:
            done.set()

    # A daemon thread: if the provider never answers, the call is abandoned, not waited for at exit.
    threading.Thread(target=run, name=f"deliver-{channel}", daemon=True).start()
    if not done.wait(timeout):
        raise ProviderTimeout(f"no answer from the {channel} provider within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["result"]


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def deliver_with_retries(call: Callable[[list[OutboundMessage]], list[DeliveryResult]],
                         messages: Sequence[OutboundMessage], policy: RetryPolicy, *, channel: str,
                         idempotent: bool = True, sleep: Callable[[float], None] = time.sleep) -> list[DeliveryResult]:
    """One result per message, after at most ``policy.max_attempts`` calls; never raises for a provider failure.

    Each attempt re-sends only the messages still without a final answer, with their own keys.
    """
    pending: dict[str, OutboundMessage] = {m.idempotency_key: m for m in messages}
    final: dict[str, DeliveryResult] = {}
    last: dict[str, DeliveryResult] = {}
    attempt = 0

    def settle(key: str, r: DeliveryResult) -> None:
        """A failure that will not be retried: the provider's reason, plus what we know of the outcome."""
        error = r.error or "failed"
        if r.maybe_sent and not idempotent:
            error += f" (outcome unknown; not retried: the {channel} provider does not deduplicate)"
        elif r.maybe_sent:
            error += (f" (after {attempt} attempt{'s' if attempt > 1 else ''}; the message may have gone out"
                      " and is not sent again)")
        final[key] = DeliveryResult(key, False, r.provider_ref, error, r.retryable, r.maybe_sent)

    while pending and attempt < policy.max_attempts:
        attempt += 1
        try:
            results = _call_with_timeout(call, list(pending.values()), policy.timeout_seconds, channel)
        except Exception as exc:  # the whole call failed: every pending message shares the reason
            retryable, maybe_sent = classify(exc)
            # The provider's own words go to the campaign log. For a deduplicating provider "may have gone
            # out" changes nothing but the wording, which only a timeout gets; otherwise it blocks the retry.
            flag = maybe_sent and (isinstance(exc, TimeoutError) or not idempotent)
            results = [DeliveryResult(key, False, error=_describe(exc), retryable=retryable, maybe_sent=flag)
                       for key in pending]
        answered = {r.idempotency_key: r for r in results}
        retry: dict[str, OutboundMessage] = {}
        for key, msg in pending.items():
            r = answered.get(key) or DeliveryResult(key, False, error=f"no answer for this message from the {channel} "
                                                    "provider", retryable=True, maybe_sent=True)
            if r.ok:
                final[key] = r
            elif r.retryable and (idempotent or not r.maybe_sent):
                retry[key] = msg
                last[key] = r
            else:
                settle(key, r)
        pending = retry
        if pending:
            log.warning("%s provider: %d message(s) failed transiently on attempt %d/%d (%s)", channel, len(pending),
                        attempt, policy.max_attempts, next(iter(last[k] for k in pending)).error)
            if attempt < policy.max_attempts:
                sleep(policy.backoff(attempt))
    for key in pending:  # still failing after the last attempt
        settle(key, last[key])
    return [final[m.idempotency_key] for m in messages]


class ResilientDelivery:
    """Base for adapters: implement ``deliver_once`` (one provider call); ``deliver`` adds the policy."""

    channel: str
    idempotent: bool = True
    default_retry_policy: RetryPolicy = RetryPolicy()  # an adapter class may choose other defaults
    retry_policy: RetryPolicy | None = None  # set by the registry from the connection's extra

    def deliver_once(self, messages: Sequence[OutboundMessage]) -> list[DeliveryResult]:  # pragma: no cover
        raise NotImplementedError

    def deliver(self, messages: Sequence[OutboundMessage]) -> list[DeliveryResult]:
        if not messages:
            return []
        return deliver_with_retries(self.deliver_once, messages, self.retry_policy or self.default_retry_policy,
                                    channel=self.channel, idempotent=self.idempotent)


class ResilientAdapter:
    """The policy around an adapter object that does not derive from ``ResilientDelivery``."""

    def __init__(self, inner: Any, policy: RetryPolicy) -> None:
        self.inner = inner
        self.channel = inner.channel
        self.retry_policy = policy

    def deliver(self, messages: Sequence[OutboundMessage]) -> list[DeliveryResult]:
        if not messages:
            return []
        return deliver_with_retries(self.inner.deliver, messages, self.retry_policy, channel=self.channel,
                                    idempotent=getattr(self.inner, "idempotent", True))

    def __getattr__(self, name: str) -> Any:  # anything else the adapter offers
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


def make_resilient(adapter: Any, policy: RetryPolicy) -> Any:
    if isinstance(adapter, (ResilientDelivery, ResilientAdapter)):
        adapter.retry_policy = policy
        return adapter
    return ResilientAdapter(adapter, policy)
