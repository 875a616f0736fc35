"""The smtp adapter against a real SMTP server in the test process (aiosmtpd): the rendered message with its
headers, STARTTLS + AUTH, a 4xx that accepts on the next try, a 5xx, and never a second e-mail for a key."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from include.campaigns.channels import OutboundMessage
from include.campaigns.channels.registry import load_adapter
from include.campaigns.infra.connections import ConnectionConfigError
from tests.channels.conftest import PUBLIC, UNSUBSCRIBE_SECRET, set_connection
from tests.channels.smtp_peer import PASSWORD, free_port

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 25, 10, tzinfo=timezone.utc)


def mail(lead: int, to: str, body: str = "Hola Ana,\nte escribe Lucía.", subject: str | None = "Tu nueva casa",
         campaign: int = 5) -> OutboundMessage:
    return OutboundMessage(f"{campaign}:{lead}:2", "email", to, body, subject, campaign, lead, 2, NOW, broker_id=1)


def test_the_message_arrives_with_its_headers_and_a_signed_unsubscribe_link(engine, smtp, smtp_channel,
                                                                            unsubscribe_links):
    smtp_channel(smtp)
    [result] = load_adapter(engine, "email").deliver([mail(34, "ana.perez@example.com")])
    assert result.ok and result.provider_ref == "<campaign-5.lead-34.step-2@sol.test>"
    [got] = smtp.received
    link = unsubscribe_links.url(34, 5, 2)
    assert link.startswith(PUBLIC + "/api/v1/unsubscribe/u1.34.5.2.")
    assert (got["From"], got["To"], got["Subject"]) == ("Inmobiliaria Sol <hola@sol.test>", "ana.perez@example.com",
                                                       "Tu nueva casa")
    assert got["Message-ID"] == "<campaign-5.lead-34.step-2@sol.test>"
    assert got["Date"] == "Wed, 25 Nov 2026 10:00:00 +0000"
    assert got["List-Unsubscribe"] == f"<{link}>"
    assert got["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = got.get_content().replace("\r\n", "\n")  # SMTP lines end in CRLF on the wire
    assert body.startswith("Hola Ana,\nte escribe Lucía.") and link in body
    assert (got.envelope_from, got.envelope_to) == ("hola@sol.test", ["ana.perez@example.com"])
    with engine.connect() as c:
        assert c.execute(text("SELECT provider, provider_ref, status, channel FROM message_deliveries")).all() == [
            ("smtp", "<campaign-5.lead-34.step-2@sol.test>", "sent", "email")]


def test_starttls_and_login_are_used_and_a_wrong_password_fails_the_load(engine, smtp_tls, smtp_channel, monkeypatch,
                                                                         caplog):
    caplog.set_level(logging.DEBUG)
    conn = smtp_channel(smtp_tls)
    assert load_adapter(engine, "email").deliver([mail(1, "eva@example.com")])[0].ok
    assert len(smtp_tls.received) == 1
    set_connection(monkeypatch, "channel_email", **{**conn, "password": "not-the-password"})
    with pytest.raises(ConnectionConfigError, match="connection channel_email: the SMTP server refused its login"):
        load_adapter(engine, "email")
    assert PASSWORD not in caplog.text and "not-the-password" not in caplog.text


def test_a_server_without_starttls_is_refused_when_the_connection_asks_for_it(engine, smtp, smtp_channel):
    smtp_channel(smtp, starttls=True)
    with pytest.raises(ConnectionConfigError, match="does not offer STARTTLS"):
        load_adapter(engine, "email")


def test_a_4xx_is_retried_until_accepted_and_a_5xx_is_failed_with_the_servers_words(engine, smtp, smtp_channel):
    smtp_channel(smtp, backoff_seconds=0.01)
    smtp.script["busy@example.com"] = ["451", "451", "ok"]
    smtp.script["nobody@example.com"] = ["550"]
    results = {r.idempotency_key: r for r in load_adapter(engine, "email").deliver([
        mail(1, "busy@example.com"), mail(2, "nobody@example.com"), mail(3, "eva@example.com")])}
    assert results["5:1:2"].ok and results["5:3:2"].ok
    assert results["5:2:2"].error == ("smtp 550 (RCPT TO): 5.1.1 <nobody@example.com>: Recipient address rejected: "
                                      "User unknown")
    assert sorted(m["To"] for m in smtp.received) == ["busy@example.com", "eva@example.com"]
    assert smtp.recorder.attempts["busy@example.com"] == 3 and smtp.recorder.attempts["nobody@example.com"] == 1
    with engine.connect() as c:
        assert c.execute(text("SELECT status, error_code FROM message_deliveries WHERE idempotency_key = '5:2:2'")
                         ).one() == ("failed", "550")


def test_a_retried_batch_never_sends_a_second_email(engine, smtp, smtp_channel):
    smtp_channel(smtp)
    batch = [mail(i, f"lead{i}@example.com") for i in range(1, 6)]
    first = load_adapter(engine, "email").deliver(batch)
    again = load_adapter(engine, "email").deliver(batch)
    assert [r.provider_ref for r in again] == [r.provider_ref for r in first]
    assert len(smtp.received) == 5


def test_a_server_that_is_down_is_transient_and_the_messages_stay_sendable(engine, smtp_channel, smtp, monkeypatch):
    conn = smtp_channel(smtp, backoff_seconds=0.01, max_attempts=2)
    set_connection(monkeypatch, "channel_email", **{**conn, "port": free_port()})  # nothing listens there
    [result] = load_adapter(engine, "email").deliver([mail(1, "ana@example.com")])
    assert not result.ok and "cannot open a session" in result.error and "Connection refused" in result.error
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM message_deliveries")).scalar() == 0  # released
    set_connection(monkeypatch, "channel_email", **conn)  # the server is back
    assert load_adapter(engine, "email").deliver([mail(1, "ana@example.com")])[0].ok
    assert len(smtp.received) == 1


def test_email_needs_the_unsubscribe_connection(engine, smtp, smtp_channel, monkeypatch):
    smtp_channel(smtp)
    monkeypatch.delenv("AIRFLOW_CONN_CAMPAIGNS_UNSUBSCRIBE")
    with pytest.raises(ConnectionConfigError, match="connection campaigns_unsubscribe is not defined"):
        load_adapter(engine, "email")
    set_connection(monkeypatch, "campaigns_unsubscribe", password="short", extra={"base_url": PUBLIC})
    with pytest.raises(ConnectionConfigError, match="at least 16 characters"):
        load_adapter(engine, "email")
    set_connection(monkeypatch, "campaigns_unsubscribe", password=UNSUBSCRIBE_SECRET, extra={})
    with pytest.raises(ConnectionConfigError, match="extra base_url must be the public"):
        load_adapter(engine, "email")


@pytest.mark.parametrize("extra, says", [
    ({"from": "no address"}, "extra from must be the sender's address"),
    ({"starttls": "yes"}, "extra starttls must be true or false"),
    ({"request_timeout_seconds": -1}, "request_timeout_seconds must be positive"),
])
def test_a_malformed_smtp_connection_is_an_error_naming_it(engine, smtp, smtp_channel, extra, says):
    smtp_channel(smtp, **extra)
    with pytest.raises(ConnectionConfigError, match=says) as error:
        load_adapter(engine, "email")
    assert "channel_email" in str(error.value)
