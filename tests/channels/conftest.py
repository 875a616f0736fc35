"""Fixtures of the channel tests: the real protocol peers on loopback and the channel connections as
``AIRFLOW_CONN_*`` environment variables (what a broker sets), plus the DAG fixtures of tests/integration."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.channels.smtp_peer import LOGIN, PASSWORD, SmtpPeer
from tests.channels.twilio_peer import ACCOUNT_SID, AUTH_TOKEN, TwilioPeer
from tests.integration.conftest import campaign_dag, no_retries, run_dag  # noqa: F401  (fixtures)

UNSUBSCRIBE_SECRET = "unsubscribe-secret-for-tests-0123456789"
PUBLIC = "https://campaigns.example.test"
SENDER = {"sms": "+15005550006", "voice": "+15005550006", "whatsapp": "whatsapp:+14155238886"}


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(120))


def set_connection(monkeypatch, conn_id: str, **fields) -> dict:
    value = {"conn_type": "generic", **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value))
    return value


@pytest.fixture
def unsubscribe_links(monkeypatch):
    from include.campaigns.channels.unsubscribe import UnsubscribeLinks

    set_connection(monkeypatch, "campaigns_unsubscribe", password=UNSUBSCRIBE_SECRET, extra={"base_url": PUBLIC})
    return UnsubscribeLinks.configured()


@pytest.fixture
def twilio() -> Iterator[TwilioPeer]:
    with TwilioPeer() as peer:
        yield peer


@pytest.fixture
def twilio_channel(monkeypatch, twilio):
    """``twilio_channel("sms", numbers={...})``: the channel's connection, pointed at the local peer."""

    def configure(channel: str, **extra) -> dict:
        return set_connection(monkeypatch, f"channel_{channel}", login=ACCOUNT_SID, password=AUTH_TOKEN,
                              host=twilio.url, extra={"adapter": "twilio", "from": SENDER[channel],
                                                      "backoff_seconds": 0.05, **extra})

    return configure


@pytest.fixture
def smtp() -> Iterator[SmtpPeer]:
    with SmtpPeer() as peer:
        yield peer


@pytest.fixture
def smtp_tls(tmp_path) -> Iterator[SmtpPeer]:
    with SmtpPeer(tls_folder=tmp_path) as peer:
        yield peer


@pytest.fixture
def smtp_channel(monkeypatch, unsubscribe_links):
    def configure(peer: SmtpPeer, **extra) -> dict:
        fields = {"host": "127.0.0.1", "port": peer.port}
        if peer.cert_file is not None:
            fields |= {"login": LOGIN, "password": PASSWORD}
            extra = {"tls_ca_file": str(peer.cert_file), **extra}
        else:
            extra = {"starttls": False, **extra}
        return set_connection(monkeypatch, "channel_email", **fields, extra={
            "adapter": "smtp", "from": "Inmobiliaria Sol <hola@sol.test>", "backoff_seconds": 0.05, **extra})

    return configure
