"""Channel providers that time out, answer 5xx, refuse, or answer "accepted" after the client gave up.

The provider is HTTP-like (``FakeHttpProvider``): it deduplicates on the idempotency key and counts
its *real* deliveries. Retries are bounded by the channel connection's policy, a permanent failure is
FAILED with the provider's reason, and a message that may have gone out is never sent blindly again:
a retry carries the same key (the provider answers from memory), and a provider that cannot
deduplicate is not asked twice at all.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime, timezone

import pytest

from include.campaigns.channels import OutboundMessage, RetryPolicy, deliver_with_retries
from tests.factories import T0, add_broker, add_campaign, add_lead, add_template
from tests.reliability.world import log_counter
from tests.support.faults import (
    FAULTS, BatchErrorAdapter, FakeHttpAdapter, FakeHttpProvider, HangingAdapter, NonIdempotentAdapter,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

FAST = RetryPolicy(timeout_seconds=5, max_attempts=3, backoff_seconds=0.01)

SCRIPT = {  # recipient -> the provider's behaviour on each request (the last one repeats)
    "+5210000001": ["ok"],
    "+5210000002": ["503", "503", "ok"],
    "+5210000003": ["503"],
    "+5210000004": ["429", "ok"],
    "+5210000005": ["400:invalid recipient"],
    "+5210000006": ["slow", "ok"],  # accepted, but the answer comes after the client's timeout
    "+5210000007": ["hang"],  # accepted, and no answer in time, ever
    "+5210000008": ["reset", "ok"],  # accepted, then the connection drops before the answer
}


def message(n: int, recipient: str) -> OutboundMessage:
    return OutboundMessage(f"1:{n}:1", "whatsapp", recipient, "hola", None, 1, n, 1,
                           datetime(2026, 11, 25, 10, tzinfo=timezone.utc))


def requests_per_key() -> Counter:
    return Counter(r.key for r in FakeHttpProvider.requests)


@pytest.fixture(autouse=True)
def _provider():
    FakeHttpProvider.reset(SCRIPT, slow_seconds=0.5)
    yield
    HangingAdapter.release.set()


def test_each_kind_of_provider_failure_is_retried_within_bounds_and_never_sent_twice():
    adapter = FakeHttpAdapter("whatsapp", {"extra": {"request_timeout_seconds": 0.1}})
    msgs = [message(i, r) for i, r in enumerate(SCRIPT, start=1)]
    started = time.monotonic()
    results = {r.idempotency_key: r for r in deliver_with_retries(adapter.deliver_once, msgs, FAST, channel="whatsapp")}
    assert time.monotonic() - started < 30  # bounded (a hang guard, not a speed target)
    outcome = {m.recipient: (results[m.idempotency_key].ok, results[m.idempotency_key].error) for m in msgs}
    assert outcome == {
        "+5210000001": (True, None),
        "+5210000002": (True, None),
        "+5210000003": (False, "HTTP 503 Service Unavailable"),
        "+5210000004": (True, None),
        "+5210000005": (False, "HTTP 400 invalid recipient"),
        "+5210000006": (True, None),
        "+5210000007": (False, "TimeoutError: read timed out after 0.1 s (after 3 attempts; the message may have "
                               "gone out and is not sent again)"),
        "+5210000008": (True, None),
    }
    tries = requests_per_key()
    assert max(tries.values()) == 3  # bounded
    assert tries["1:5:1"] == 1  # a permanent refusal is not retried
    assert tries["1:1:1"] == 1
    delivered = Counter(m.idempotency_key for m in FakeHttpProvider.deliveries)
    assert max(delivered.values()) == 1  # the retries of slow / hang / reset hit the provider's memory
    assert set(delivered) == {"1:1:1", "1:2:1", "1:4:1", "1:6:1", "1:7:1", "1:8:1"}


def test_a_provider_that_cannot_deduplicate_is_never_asked_twice_for_a_send_that_may_be_out():
    adapter = NonIdempotentAdapter("whatsapp", {"extra": {"request_timeout_seconds": 0.1}})
    msgs = [message(2, "+5210000002"), message(6, "+5210000006"), message(8, "+5210000008")]
    results = {r.idempotency_key: r for r in deliver_with_retries(adapter.deliver_once, msgs, FAST, channel="whatsapp",
                                                                 idempotent=adapter.idempotent)}
    assert results["1:2:1"].ok  # 503 twice: certainly not sent, so asked again
    assert results["1:6:1"].error == ("TimeoutError: read timed out after 0.1 s (outcome unknown; not retried: the "
                                      "whatsapp provider does not deduplicate)")
    assert results["1:8:1"].error.startswith("ConnectionResetError: connection reset by peer (outcome unknown")
    assert requests_per_key() == {"1:2:1": 3, "1:6:1": 1, "1:8:1": 1}


def test_a_call_that_ignores_its_timeout_is_abandoned_after_the_policy_timeout():
    HangingAdapter.release.clear()
    adapter = HangingAdapter("voice")
    policy = RetryPolicy(timeout_seconds=0.3, max_attempts=2, backoff_seconds=0.01)
    started = time.monotonic()
    [result] = deliver_with_retries(adapter.deliver_once, [message(1, "+5210000001")], policy, channel="voice")
    assert time.monotonic() - started < 20  # 2 x 0.3 s expected; a hanging provider would block for ever
    assert result.error == ("ProviderTimeout: no answer from the voice provider within 0.3 s (after 2 attempts; the "
                            "message may have gone out and is not sent again)")
    assert len(FakeHttpProvider.deliveries) == 1 and len(FakeHttpProvider.requests) == 2


def test_whole_batch_errors_transient_then_permanent():
    BatchErrorAdapter.statuses, BatchErrorAdapter.calls = [503, 502, 200], 0
    adapter = BatchErrorAdapter("sms")
    results = deliver_with_retries(adapter.deliver_once, [message(11, "+5219000011"), message(12, "+5219000012")],
                                   FAST, channel="sms")
    assert [r.ok for r in results] == [True, True] and BatchErrorAdapter.calls == 3
    BatchErrorAdapter.statuses, BatchErrorAdapter.calls = [401], 0
    [result] = deliver_with_retries(adapter.deliver_once, [message(13, "+5219000013")], FAST, channel="sms")
    assert result.error == "ProviderError: HTTP 401 from the provider" and BatchErrorAdapter.calls == 1
    BatchErrorAdapter.statuses, BatchErrorAdapter.calls = [500], 0
    [result] = deliver_with_retries(adapter.deliver_once, [message(14, "+5219000014")], FAST, channel="sms")
    assert result.error == "ProviderError: HTTP 500 from the provider" and BatchErrorAdapter.calls == 3


def test_the_dag_logs_each_provider_outcome_once_and_goes_on(engine, run_dag, monkeypatch, invariants):
    """The same provider behind a channel connection, through a real DAG run."""
    monkeypatch.setenv("AIRFLOW_CONN_CHANNEL_WHATSAPP", json.dumps({"conn_type": "generic", "extra": {
        "adapter": "tests.support.faults:FakeHttpAdapter", "request_timeout_seconds": 0.1,
        "timeout_seconds": 10, "max_attempts": 3, "backoff_seconds": 0.01}}))
    add_broker(engine, 1)
    add_template(engine, 10, 1, "whatsapp")
    for i, phone in enumerate(SCRIPT, start=1):
        add_lead(engine, i, score=90, phone=phone)
    cid = add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70}, steps=[
        {"action": "send_message", "message_template_id": 10},
        {"action": "update_stage", "config": {"stage": "contacted"}},
    ])
    assert run_dag(T0).state == "success"
    assert log_counter(engine, cid) == {
        (1, "SENT", None): 5,
        (1, "FAILED", "provider_error: HTTP 503 Service Unavailable"): 1,
        (1, "FAILED", "provider_error: HTTP 400 invalid recipient"): 1,
        (1, "FAILED", "provider_error: TimeoutError: read timed out after 0.1 s (after 3 attempts; the message may "
                      "have gone out and is not sent again)"): 1,
        (2, "SENT", None): 8,  # a failed step does not stop the campaign
    }
    assert max(requests_per_key().values()) == 3
    FAULTS.add("provider_scenarios_through_the_dag")
    invariants(at=T0, deliveries=[(m.campaign_id, m.lead_id, m.step_number) for m in FakeHttpProvider.deliveries])
