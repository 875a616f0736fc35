"""Twilio's webhooks over HTTP: signed with the real ``RequestValidator``, against real PostgreSQL.

A request whose signature is missing or wrong is 403 and writes nothing. Inbound: STOP-like words set
``do_not_contact``; any other reply ends the lead's ACTIVE enrolments in its broker's campaigns (SKIPPED
lead_replied, exactly once). Status callbacks move a delivery forward only."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from twilio.request_validator import RequestValidator

from tests.api.conftest import API
from tests.channels.conftest import PUBLIC, set_connection
from tests.channels.twilio_peer import ACCOUNT_SID, AUTH_TOKEN
from tests.factories import add_broker, add_campaign, add_lead, assert_stats_match_logs

INBOUND, STATUS = f"{API}/webhooks/twilio/inbound", f"{API}/webhooks/twilio/status"
OWN_1, SHARED = "+15550000001", "+15550000009"  # broker 1's own number; the number the others share
PHONE = "+525511110001"


@pytest.fixture
def twilio_conns(monkeypatch):
    def configure(**extra):
        set_connection(monkeypatch, "channel_sms", login=ACCOUNT_SID, password=AUTH_TOKEN,
                       extra={"adapter": "twilio", "from": SHARED, "numbers": {"1": OWN_1}, **extra})
        set_connection(monkeypatch, "channel_whatsapp", login=ACCOUNT_SID, password=AUTH_TOKEN,
                       extra={"adapter": "twilio", "from": f"whatsapp:{SHARED}", **extra})
    configure()
    return configure


@pytest.fixture
def world(db, twilio_conns):
    """The same person (PHONE) is a lead of broker 1 twice (301, and 303 written another way) and of brokers 2
    and 3; 301 is enrolled in two campaigns of broker 1, 302 in one of broker 2."""
    add_broker(db, 3, name="Inmo Tres")
    add_lead(db, 301, 1, phone=PHONE, full_name="Ana Pérez")
    add_lead(db, 302, 2, phone=PHONE, full_name="Ana P.")
    add_lead(db, 303, 1, phone="+52 55 1111 0001", full_name="Ana (duplicada)")
    add_lead(db, 304, 3, phone=PHONE, full_name="Ana de Tres")
    c1 = add_campaign(db, broker_id=1, name="uno", steps=[{"action": "make_call"}, {"action": "make_call"}])
    c2 = add_campaign(db, broker_id=1, name="dos", steps=[{"action": "make_call"}])
    c4 = add_campaign(db, broker_id=2, name="otro broker", steps=[{"action": "make_call"}])
    with db.begin() as c:
        c.execute(text("INSERT INTO campaign_enrolments (campaign_id, lead_id, broker_id, enrolled_at, status) VALUES "
                       "(:c1, 301, 1, now(), 'ACTIVE'), (:c2, 301, 1, now(), 'ACTIVE'), "
                       "(:c4, 302, 2, now(), 'ACTIVE')"), {"c1": c1, "c2": c2, "c4": c4})
    return {"c1": c1, "c2": c2, "c4": c4}


def signed_post(client, path: str, params: dict, *, token: str = AUTH_TOKEN, url: str | None = None,
                signature: str | None = None):
    url = url or f"http://testserver{path}"
    sig = signature if signature is not None else RequestValidator(token).compute_signature(url, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": sig} if sig else {})


def inbound(body: str, sid: str = "SM" + "a" * 32, sender: str = PHONE, to: str = OWN_1) -> dict:
    return {"AccountSid": ACCOUNT_SID, "MessageSid": sid, "SmsSid": sid, "From": sender, "To": to, "Body": body,
            "NumMedia": "0", "ApiVersion": "2010-04-01"}


def state(engine) -> dict:
    with engine.connect() as c:
        q = lambda sql: [tuple(r) for r in c.execute(text(sql))]  # noqa: E731
        return {"replies": q("SELECT broker_id, lead_id, channel, kind, body FROM lead_replies ORDER BY id"),
                "dnc": [r[0] for r in q("SELECT id FROM leads WHERE do_not_contact ORDER BY id")],
                "enrolments": q("SELECT campaign_id, lead_id, status FROM campaign_enrolments ORDER BY 1, 2"),
                "logs": q("SELECT campaign_id, lead_id, step_number, status, reason, run_id, channel FROM campaign_logs "
                          "ORDER BY 1, 2"),
                "deliveries": q("SELECT idempotency_key, provider_ref, status, error_code FROM message_deliveries "
                                "ORDER BY 1")}


@pytest.mark.parametrize("how", ["missing", "wrong token", "tampered body", "other url", "other account"])
def test_a_request_without_a_valid_signature_is_403_and_writes_nothing(db, world, client_for, how):
    client = client_for(None)  # no Airflow token: Twilio cannot log in
    before = state(db)
    params = inbound("STOP")
    if how == "missing":
        r = signed_post(client, INBOUND, params, signature="")
    elif how == "wrong token":
        r = signed_post(client, INBOUND, params, token="not-the-auth-token")
    elif how == "tampered body":
        sig = RequestValidator(AUTH_TOKEN).compute_signature(f"http://testserver{INBOUND}", params)
        r = signed_post(client, INBOUND, {**params, "Body": "Hola"}, signature=sig)
    elif how == "other url":
        r = signed_post(client, INBOUND, params, url=f"http://testserver{STATUS}")
    else:
        r = signed_post(client, INBOUND, {**params, "AccountSid": "AC" + "f" * 32})
    assert r.status_code == 403, r.text
    assert state(db) == before
    assert signed_post(client, STATUS, {"AccountSid": ACCOUNT_SID, "MessageSid": "SMx", "MessageStatus": "delivered"},
                       token="nope").status_code == 403


@pytest.mark.parametrize("body", ["STOP", " bája ", "Cancelár!", "unsubscribe", "Baja.", "¡CANCELAR!"])
def test_an_opt_out_word_sets_do_not_contact_for_that_person_in_that_broker(db, world, client_for, body):
    r = signed_post(client_for(None), INBOUND, inbound(body))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml") and "<Response" in r.text
    after = state(db)
    assert after["dnc"] == [301, 303]  # broker 1's two rows of that phone; brokers 2 and 3 untouched
    assert after["replies"] == [(1, 301, "sms", "unsubscribe", body)]
    assert all(s == "ACTIVE" for _c, _l, s in after["enrolments"]) and after["logs"] == []


@pytest.mark.parametrize("body", ["Stop please", "bajar el precio", "cancelaron la visita", ""])
def test_other_words_are_replies(db, world, client_for, body):
    assert signed_post(client_for(None), INBOUND, inbound(body)).status_code == 200
    assert state(db)["dnc"] == [] and state(db)["replies"][0][3] == "reply"


def test_a_reply_ends_the_leads_two_enrolments_of_its_broker_once(db, world, client_for):
    client = client_for(None)
    sid = "SM" + "b" * 32
    assert signed_post(client, INBOUND, inbound("Sí, me interesa. Llámenme mañana", sid)).status_code == 200
    after = state(db)
    assert after["enrolments"] == sorted([(world["c1"], 301, "STOPPED"), (world["c2"], 301, "STOPPED"),
                                          (world["c4"], 302, "ACTIVE")])
    run = f"twilio-inbound:{sid}"
    assert after["logs"] == [(world["c1"], 301, None, "SKIPPED", "lead_replied", run, "sms"),
                             (world["c2"], 301, None, "SKIPPED", "lead_replied", run, "sms")]
    assert after["replies"] == [(1, 301, "sms", "reply", "Sí, me interesa. Llámenme mañana")]
    assert_stats_match_logs(db)
    with db.connect() as c:
        assert c.execute(text("SELECT sum(skipped) FROM campaign_stats")).scalar() == 2
    # Twilio retries the same webhook; then the lead writes again: nothing more happens to the enrolments
    assert signed_post(client, INBOUND, inbound("Sí, me interesa. Llámenme mañana", sid)).status_code == 200
    assert state(db) == after
    assert signed_post(client, INBOUND, inbound("¿Hola?", "SM" + "c" * 32)).status_code == 200
    again = state(db)
    assert again["logs"] == after["logs"] and len(again["replies"]) == 2
    assert_stats_match_logs(db)


def test_a_reply_to_the_shared_number_goes_to_the_broker_that_last_wrote_to_that_phone(db, world, client_for):
    with db.begin() as c:  # broker 3 wrote to Ana after broker 2 did
        c.execute(text(
            "INSERT INTO message_deliveries (idempotency_key, campaign_id, lead_id, step_number, broker_id, channel, "
            "provider, provider_ref, status, updated_at) VALUES "
            "('9:302:1', 9, 302, 1, 2, 'whatsapp', 'twilio', 'SM1', 'delivered', now() - interval '2 days'), "
            "('8:304:1', 8, 304, 1, 3, 'whatsapp', 'twilio', 'SM2', 'delivered', now() - interval '1 day'), "
            "('7:302:1', 7, 302, 1, 2, 'sms', 'twilio', 'SM3', 'delivered', now())"))
    r = signed_post(client_for(None), INBOUND, inbound("baja", sender=f"whatsapp:{PHONE}", to=f"whatsapp:{SHARED}"))
    assert r.status_code == 200
    after = state(db)
    assert after["dnc"] == [304] and after["replies"] == [(3, 304, "whatsapp", "unsubscribe", "baja")]


def test_a_reply_nobody_can_be_found_for_is_kept_and_changes_nothing_else(db, world, client_for):
    assert signed_post(client_for(None), INBOUND, inbound("Hola", sender="+14155550000")).status_code == 200
    assert signed_post(client_for(None), INBOUND, inbound("Hola", "SM" + "d" * 32, to="+19995550000")).status_code == 200
    after = state(db)
    assert after["replies"] == [(1, None, "sms", "reply", "Hola"), (None, None, "sms", "reply", "Hola")]
    assert after["logs"] == [] and after["dnc"] == []


def test_behind_a_proxy_the_signature_is_checked_against_webhook_base_url(db, world, client_for, twilio_conns):
    twilio_conns(webhook_base_url=PUBLIC)
    client = client_for(None)
    assert signed_post(client, INBOUND, inbound("STOP")).status_code == 403  # signed for the internal URL
    assert signed_post(client, INBOUND, inbound("STOP"), url=PUBLIC + INBOUND).status_code == 200
    assert state(db)["dnc"] == [301, 303]


def test_a_malformed_twilio_connection_is_a_503_naming_it(db, world, client_for, monkeypatch):
    set_connection(monkeypatch, "channel_voice", login=ACCOUNT_SID, password=AUTH_TOKEN,
                   extra={"adapter": "twilio", "from": "not a number"})
    r = signed_post(client_for(None), INBOUND, inbound("STOP"))
    assert r.status_code == 503 and "channel_voice" in r.json()["detail"]
    assert state(db)["replies"] == []


def _status(sid: str, status: str, **more) -> dict:
    return {"AccountSid": ACCOUNT_SID, "MessageSid": sid, "MessageStatus": status, "SmsSid": sid, "SmsStatus": status,
            **more}


def test_status_callbacks_move_a_delivery_forward_only_and_the_log_stays_sent(db, world, client_for):
    with db.begin() as c:
        c.execute(text(
            "INSERT INTO message_deliveries (idempotency_key, campaign_id, lead_id, step_number, broker_id, channel, "
            "provider, provider_ref, status, updated_at) VALUES "
            "('1:301:1', 1, 301, 1, 1, 'sms', 'twilio', 'SMaaa', 'queued', now()), "
            "('1:302:1', 1, 302, 1, 1, 'sms', 'twilio', 'SMbbb', 'queued', now()), "
            "('1:303:2', 1, 303, 2, 1, 'voice', 'twilio', 'CAccc', 'queued', now()), "
            "('1:304:1', 1, 304, 1, 1, 'sms', 'twilio', NULL, 'requesting', now())"))
    client = client_for(None)

    def post(params, query=""):
        r = signed_post(client, STATUS + query, params)
        assert r.status_code == 200, r.text
        return r.json()["recorded"]

    assert post(_status("SMaaa", "sent")) is True
    assert post(_status("SMaaa", "delivered")) is True
    assert post(_status("SMaaa", "sent")) is False  # late
    assert post(_status("SMaaa", "delivered")) is False  # retried
    assert post(_status("SMaaa", "undelivered", ErrorCode="30003")) is False  # a final status stays
    assert post(_status("SMbbb", "undelivered", ErrorCode="30005")) is True
    assert post(_status("SMbbb", "sent")) is False
    assert post({"AccountSid": ACCOUNT_SID, "CallSid": "CAccc", "CallStatus": "ringing"}) is True
    assert post({"AccountSid": ACCOUNT_SID, "CallSid": "CAccc", "CallStatus": "no-answer"}) is True
    assert post(_status("SMzzz", "delivered")) is False  # not one of ours
    assert post(_status("SMddd", "sent"), "?key=1%3A304%3A1") is True  # the send's answer was lost: the key finds it
    assert state(db)["deliveries"] == [("1:301:1", "SMaaa", "delivered", None), ("1:302:1", "SMbbb", "undelivered", "30005"),
                                       ("1:303:2", "CAccc", "no-answer", None), ("1:304:1", "SMddd", "sent", None)]
    assert state(db)["logs"] == []
    r = signed_post(client, STATUS, {"AccountSid": ACCOUNT_SID, "MessageStatus": "sent"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "MessageSid"


def test_a_message_sent_by_the_adapter_gets_its_receipts(engine, client_for, monkeypatch, db):
    """End to end: the twilio adapter sends through the local Twilio peer with a status callback URL; the
    callback Twilio would post to it (signed for that URL) updates that message."""
    from datetime import datetime, timezone

    from include.campaigns.channels import OutboundMessage
    from include.campaigns.channels.registry import load_adapter
    from tests.channels.twilio_peer import TwilioPeer

    with TwilioPeer() as peer:
        set_connection(monkeypatch, "channel_sms", login=ACCOUNT_SID, password=AUTH_TOKEN, host=peer.url,
                       extra={"adapter": "twilio", "from": SHARED, "webhook_base_url": PUBLIC})
        [sent] = load_adapter(db, "sms").deliver([OutboundMessage(
            "4:101:1", "sms", "+34600000001", "Hola Ana", None, 4, 101, 1, datetime.now(timezone.utc), broker_id=1)])
        callback = peer.messages[0]["_form"]["StatusCallback"]
    assert callback == PUBLIC + STATUS + "?key=4%3A101%3A1"
    r = signed_post(client_for(None), callback.removeprefix(PUBLIC), _status(sent.provider_ref, "delivered"),
                    url=callback)
    assert r.status_code == 200 and r.json() == {"sid": sent.provider_ref, "status": "delivered", "recorded": True}
    assert state(db)["deliveries"] == [("4:101:1", sent.provider_ref, "delivered", None)]
