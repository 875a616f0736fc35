"""The twilio adapter against a local server speaking Twilio's REST API (``twilio_peer.py``), loaded the way
the executor loads it: from the channel's connection (``AIRFLOW_CONN_CHANNEL_*``), with its retry policy."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text

from include.campaigns.channels import OutboundMessage
from include.campaigns.channels.registry import load_adapter
from include.campaigns.infra.connections import ConnectionConfigError
from tests.channels.conftest import PUBLIC, SENDER
from tests.channels.twilio_peer import AUTH_TOKEN

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 25, 10, tzinfo=timezone.utc)


def msg(lead: int, to: str, body: str = "Hola Ana", channel: str = "sms", broker: int = 1, campaign: int = 7,
        language: str | None = None) -> OutboundMessage:
    return OutboundMessage(f"{campaign}:{lead}:1", channel, to, body, None, campaign, lead, 1, NOW, broker_id=broker,
                           language=language)


def deliveries(engine) -> dict[str, tuple]:
    with engine.connect() as c:
        return {r[0]: tuple(r[1:]) for r in c.execute(text(
            "SELECT idempotency_key, provider, provider_ref, status, error_code, broker_id, channel "
            "FROM message_deliveries ORDER BY 1"))}


def test_messages_go_out_once_with_their_sid_stored_and_a_retry_gets_the_first_answer(engine, twilio, twilio_channel):
    twilio_channel("sms")
    adapter = load_adapter(engine, "sms")
    batch = [msg(i, f"+5255500010{i:02d}", f"Hola {i}") for i in range(1, 8)]
    first = adapter.deliver(batch)
    assert all(r.ok and r.provider_ref.startswith("SM") for r in first)
    assert sorted(m["body"] for m in twilio.messages) == sorted(f"Hola {i}" for i in range(1, 8))
    assert {m["from"] for m in twilio.messages} == {SENDER["sms"]}
    stored = deliveries(engine)
    assert {k: (v[0], v[1], v[2]) for k, v in stored.items()} == {
        r.idempotency_key: ("twilio", r.provider_ref, "queued") for r in first}
    assert {(v[4], v[5]) for v in stored.values()} == {(1, "sms")}

    again = load_adapter(engine, "sms").deliver(batch)  # a retried chunk: same keys
    assert [(r.idempotency_key, r.ok, r.provider_ref) for r in again] == [
        (r.idempotency_key, r.ok, r.provider_ref) for r in first]
    assert len(twilio.messages) == 7  # nothing was sent twice


def test_an_invalid_number_is_failed_with_twilios_code_and_not_retried(engine, twilio, twilio_channel):
    twilio_channel("sms")
    twilio.script["+5255500010"] = ["21211"]  # Twilio's own verdict on a number that looks fine
    results = {r.idempotency_key: r for r in load_adapter(engine, "sms").deliver(
        [msg(1, "+1555"), msg(2, "+5255500010"), msg(3, "+525550001003")])}
    assert results["7:1:1"].error == "twilio 21211: Invalid 'To' Phone Number: +1555"
    assert results["7:2:1"].error == "twilio 21211: Invalid 'To' Phone Number: +5255500010"
    assert not results["7:1:1"].ok and not results["7:1:1"].retryable
    assert results["7:3:1"].ok
    posts = [f["To"] for method, path, f in twilio.requests if method == "POST"]
    assert posts.count("+1555") == 1 and posts.count("+5255500010") == 1  # a permanent refusal: asked once
    stored = deliveries(engine)
    assert stored["7:1:1"][1:4] == (None, "failed", "21211")


def test_a_429_burst_is_retried_with_backoff_until_accepted_and_nothing_is_doubled(engine, twilio, twilio_channel):
    twilio_channel("sms", backoff_seconds=0.01)
    numbers = [f"+52555000200{i}" for i in range(6)]
    for n in numbers:
        twilio.script[n] = ["429", "429", "ok"]
    results = load_adapter(engine, "sms").deliver([msg(i, n) for i, n in enumerate(numbers, start=1)])
    assert all(r.ok for r in results), results
    assert sorted(m["to"] for m in twilio.messages) == sorted(numbers)  # one message each
    posts = [f["To"] for method, path, f in twilio.requests if method == "POST"]
    assert all(posts.count(n) == 3 for n in numbers)


def test_5xx_is_transient_and_bounded_by_the_policy(engine, twilio, twilio_channel):
    twilio_channel("sms", backoff_seconds=0.01, max_attempts=3)
    twilio.script["+525550003001"] = ["500"]
    twilio.script["+525550003002"] = ["500", "ok"]
    results = {r.idempotency_key: r for r in load_adapter(engine, "sms").deliver(
        [msg(1, "+525550003001"), msg(2, "+525550003002")])}
    assert results["7:2:1"].ok
    assert not results["7:1:1"].ok and results["7:1:1"].error == "twilio 20500: An internal server error has occurred"
    posts = [f["To"] for method, path, f in twilio.requests if method == "POST"]
    assert posts.count("+525550003001") == 3 and posts.count("+525550003002") == 2
    assert "7:1:1" not in deliveries(engine)  # released: nothing went out, a later run may send it


@pytest.mark.parametrize("behaviour", ["slow:1.5", "drop"])
def test_a_send_whose_answer_is_lost_is_found_in_the_account_and_never_sent_twice(engine, twilio, twilio_channel,
                                                                                  behaviour):
    """The server creates the message, then answers after the client's timeout (or closes the connection):
    the retry must not create a second message; it finds the first one by To/From/body and records its SID."""
    twilio_channel("sms", request_timeout_seconds=0.5, backoff_seconds=0.2)
    twilio.script["+525550004001"] = [behaviour, "ok"]
    [result] = load_adapter(engine, "sms").deliver([msg(1, "+525550004001", "Hola, ¿seguimos?")])
    created = twilio.created_for("+525550004001")
    assert len(created) == 1, created
    assert result.ok and result.provider_ref == created[0]["sid"]
    assert deliveries(engine)["7:1:1"][1:3] == (created[0]["sid"], "queued")
    gets = [path for method, path, _f in twilio.requests if method == "GET" and path.endswith("Messages.json")]
    assert gets  # the list was asked, not the create again
    [again] = load_adapter(engine, "sms").deliver([msg(1, "+525550004001", "Hola, ¿seguimos?")])
    assert again.provider_ref == created[0]["sid"] and len(twilio.created_for("+525550004001")) == 1


def test_a_lost_answer_that_cannot_be_found_is_never_sent_again(engine, twilio, twilio_channel):
    """The claim of an attempt that crashed before anything reached Twilio: the list has nothing, so the
    message is FAILED "outcome unknown" -- a possible duplicate is worse than a missed message."""
    twilio_channel("sms", backoff_seconds=0.01, max_attempts=2)
    with engine.begin() as c:
        c.execute(text("INSERT INTO message_deliveries (idempotency_key, campaign_id, lead_id, step_number, channel, "
                       "provider, status, updated_at) VALUES ('7:1:1', 7, 1, 1, 'sms', 'twilio', 'requesting', now())"))
    [result] = load_adapter(engine, "sms").deliver([msg(1, "+525550005001")])
    assert not result.ok and result.error.startswith("outcome unknown: an earlier twilio request for this message")
    assert "not sent again" in result.error
    assert twilio.messages == []


def test_whatsapp_uses_its_prefixes_a_brokers_own_number_and_asks_for_status_callbacks(engine, twilio,
                                                                                      twilio_channel):
    twilio_channel("whatsapp", numbers={"2": "whatsapp:+5215550009999"}, webhook_base_url=PUBLIC + "/")
    adapter = load_adapter(engine, "whatsapp")
    results = adapter.deliver([msg(1, "+525550006001", channel="whatsapp", broker=1),
                               msg(2, "+525550006002", channel="whatsapp", broker=2, campaign=8)])
    assert all(r.ok for r in results)
    by_to = {m["to"]: m for m in twilio.messages}
    assert by_to["whatsapp:+525550006001"]["from"] == SENDER["whatsapp"]
    assert by_to["whatsapp:+525550006002"]["from"] == "whatsapp:+5215550009999"
    callback = urlsplit(by_to["whatsapp:+525550006002"]["_form"]["StatusCallback"])
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == PUBLIC + "/api/v1/webhooks/twilio/status"
    assert parse_qs(callback.query) == {"key": ["8:2:1"]}


def test_a_call_speaks_its_script_in_the_leads_language_through_twiml(engine, twilio, twilio_channel):
    twilio_channel("voice", webhook_base_url=PUBLIC)
    adapter = load_adapter(engine, "voice")
    results = {r.idempotency_key: r for r in adapter.deliver([
        msg(1, "+525550007001", "Hola Ana, soy Lucía de Inmobiliaria Sol & Co.", "voice", language="es-MX"),
        msg(2, "+525550007002", "   ", "voice", language="es-MX")])}
    assert results["7:1:1"].ok and results["7:1:1"].provider_ref.startswith("CA")
    assert results["7:2:1"].error == "no_call_script: the make_call step names no voice template to speak"
    [call] = twilio.calls
    assert call["_form"]["Twiml"] == ('<?xml version="1.0" encoding="UTF-8"?><Response><Say language="es-MX">'
                                      "Hola Ana, soy Lucía de Inmobiliaria Sol &amp; Co.</Say></Response>")
    assert call["_form"]["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert deliveries(engine)["7:1:1"][:3] == ("twilio", call["sid"], "queued")


def test_a_voice_connection_can_force_a_language_and_voice(engine, twilio, twilio_channel):
    twilio_channel("voice", language="es-ES", voice="Polly.Lucia")
    assert load_adapter(engine, "voice").deliver([msg(1, "+34600000001", "Hola", "voice", language="es-MX")])[0].ok
    assert '<Say language="es-ES" voice="Polly.Lucia">Hola</Say>' in twilio.calls[0]["_form"]["Twiml"]


def test_wrong_credentials_fail_the_load_naming_the_connection_and_never_showing_the_token(
        engine, twilio, twilio_channel, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    conn = twilio_channel("sms")
    twilio.auth_token = "another-token-entirely-000000000"
    with pytest.raises(ConnectionConfigError, match=r"connection channel_sms: Twilio refused its Account SID / Auth "
                                                    r"Token \(HTTP 401, code 20003"):
        load_adapter(engine, "sms")
    assert conn["password"] == AUTH_TOKEN and AUTH_TOKEN not in caplog.text
    assert twilio.messages == []


@pytest.mark.parametrize("extra, says", [
    ({"from": None}, "extra from must be a phone number"),
    ({"from": "5550006"}, "is not an E.164 number"),
    ({"from": "whatsapp:+15005550006"}, "is a WhatsApp sender"),
    ({"numbers": {"uno": "+15005550007"}}, "is not a broker id"),
    ({"webhook_base_url": "campaigns.example.test"}, "webhook_base_url must be an http"),
    ({"request_timeout_seconds": 0}, "request_timeout_seconds must be a positive number"),
])
def test_a_malformed_twilio_connection_is_an_error_naming_it(engine, twilio, twilio_channel, extra, says):
    twilio_channel("sms", **extra)
    with pytest.raises(ConnectionConfigError, match=says) as error:
        load_adapter(engine, "sms")
    assert "channel_sms" in str(error.value)


def test_credentials_and_bodies_stay_out_of_the_logs(engine, twilio, twilio_channel, caplog):
    caplog.set_level(logging.DEBUG)
    twilio_channel("sms", request_timeout_seconds=0.5, backoff_seconds=0.01)
    twilio.script["+525550008002"] = ["429", "ok"]
    twilio.script["+525550008003"] = ["drop", "ok"]
    load_adapter(engine, "sms").deliver([msg(i, f"+52555000800{i}", "secreto del cliente") for i in (1, 2, 3)])
    assert AUTH_TOKEN not in caplog.text and "secreto del cliente" not in caplog.text


def test_two_attempts_racing_for_the_same_batch_send_each_message_once(engine, twilio, twilio_channel):
    """The chunk's row locks keep overlapping runs apart; the ledger's claim is the last guard: two adapters
    delivering the same keys at the same time (a slow provider) never both send one."""
    import threading

    twilio_channel("sms", concurrency=2)
    numbers = [f"+52555000900{i}" for i in range(6)]
    for n in numbers:
        twilio.script[n] = ["slow:0.2"]
    batch = [msg(i, n) for i, n in enumerate(numbers, start=1)]
    adapters = [load_adapter(engine, "sms"), load_adapter(engine, "sms")]
    results: list = [None, None]
    threads = [threading.Thread(target=lambda k=k: results.__setitem__(k, adapters[k].deliver(batch))) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(m["to"] for m in twilio.messages) == sorted(numbers)
    refs = {r.idempotency_key: r.provider_ref for r in results[0] if r.ok}
    assert all(refs.get(r.idempotency_key, r.provider_ref) == r.provider_ref for r in results[1] if r.ok)
