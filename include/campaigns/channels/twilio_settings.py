"""What a Twilio channel connection (``channel_sms``, ``channel_whatsapp``, ``channel_voice``) says.

login = Account SID, password = Auth Token, extra ``from`` = the sending number (``+1...``; WhatsApp:
``whatsapp:+1...``), host (optional) = the API's base URL instead of ``https://api.twilio.com`` (a regional
edge, a proxy, a test server). Optional extra keys:

* ``numbers``: ``{"<broker_id>": "<number>"}`` -- a broker's own sending number on this channel. Brokers not
  listed send from ``from`` (a number they share). Inbound replies use it the other way round: the number
  a reply was sent to names the broker (``api/services/replies.py``).
* ``webhook_base_url``: the public origin Twilio reaches the admin API at (``https://campaigns.example.com``),
  behind any proxy. When set, every message and call asks Twilio for status callbacks at
  ``<webhook_base_url>/api/v1/webhooks/twilio/status``, and the webhooks check Twilio's signature against
  that URL (else against the URL the API server itself received).
* ``request_timeout_seconds`` (per HTTP request, default 15), ``concurrency`` (parallel requests, default 4);
* voice only: ``language`` (force one ``<Say>`` language, e.g. ``es-MX``) and ``voice`` (e.g. ``Polly.Mia``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from include.campaigns.infra.connections import ConnectionConfigError

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
WHATSAPP = "whatsapp:"
DEFAULT_API = "https://api.twilio.com"


def _number(conn_id: str, channel: str, value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConnectionConfigError(f"connection {conn_id}: {what} must be a phone number like +15551234567"
                                    + (" prefixed with whatsapp:" if channel == "whatsapp" else ""))
    value = value.strip()
    bare = value[len(WHATSAPP):] if value.startswith(WHATSAPP) else value
    if channel == "whatsapp" and not value.startswith(WHATSAPP):
        raise ConnectionConfigError(f"connection {conn_id}: {what} must be whatsapp:+<number> on the WhatsApp "
                                    f"channel, got {value!r}")
    if channel != "whatsapp" and value.startswith(WHATSAPP):
        raise ConnectionConfigError(f"connection {conn_id}: {what} {value!r} is a WhatsApp sender; the {channel} "
                                    "channel sends from a plain +<number>")
    if not E164.match(bare):
        raise ConnectionConfigError(f"connection {conn_id}: {what} {value!r} is not an E.164 number (+<digits>)")
    return value


def _positive(conn_id: str, extra: Mapping[str, Any], key: str, default: float) -> float:
    value = extra.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConnectionConfigError(f"connection {conn_id}: extra {key} must be a positive number, got {value!r}")
    return float(value)


def api_base_url(host: str | None, port: int | None) -> str:
    """The connection's host as a base URL: kept as is when it has a scheme, else https://host[:port]."""
    if not host:
        return DEFAULT_API
    host = host.strip().rstrip("/")
    if "://" not in host:
        host = f"https://{host}"
    if port and not re.search(r":\d+$", host.split("://", 1)[1].split("/", 1)[0]):
        scheme, rest = host.split("://", 1)
        netloc, _, path = rest.partition("/")
        host = f"{scheme}://{netloc}:{port}" + (f"/{path}" if path else "")
    return host


@dataclass(frozen=True)
class TwilioSettings:
    conn_id: str
    channel: str
    account_sid: str
    auth_token: str = field(repr=False)
    sender: str
    numbers: dict[int, str]
    api_url: str
    webhook_base_url: str | None
    request_timeout: float
    concurrency: int
    language: str | None
    voice: str | None

    @classmethod
    def parse(cls, channel: str, settings: Mapping[str, Any]) -> TwilioSettings:
        conn_id = settings.get("conn_id") or f"channel_{channel}"
        extra = settings.get("extra") or {}
        sid, token = settings.get("login"), settings.get("password")
        if not sid or not isinstance(sid, str) or not sid.startswith("AC"):
            raise ConnectionConfigError(f"connection {conn_id}: login must be the Twilio Account SID (AC...)")
        if not token:
            raise ConnectionConfigError(f"connection {conn_id}: password must be the Twilio Auth Token")
        if channel not in ("sms", "whatsapp", "voice"):
            raise ConnectionConfigError(f"connection {conn_id}: the twilio adapter serves sms, whatsapp and voice, "
                                        f"not {channel}")
        numbers = extra.get("numbers") or {}
        if not isinstance(numbers, dict):
            raise ConnectionConfigError(f"connection {conn_id}: extra numbers must map broker ids to numbers")
        own: dict[int, str] = {}
        for broker, number in numbers.items():
            if not str(broker).isdigit():
                raise ConnectionConfigError(f"connection {conn_id}: extra numbers: {broker!r} is not a broker id")
            own[int(broker)] = _number(conn_id, channel, number, f"extra numbers[{broker}]")
        base = extra.get("webhook_base_url")
        if base is not None and (not isinstance(base, str) or not re.match(r"^https?://[^/\s]+", base)):
            raise ConnectionConfigError(f"connection {conn_id}: extra webhook_base_url must be an http(s) URL")
        concurrency = _positive(conn_id, extra, "concurrency", 4)
        if concurrency != int(concurrency):
            raise ConnectionConfigError(f"connection {conn_id}: extra concurrency must be a whole number")
        return cls(
            conn_id=conn_id, channel=channel, account_sid=sid, auth_token=token,
            sender=_number(conn_id, channel, extra.get("from"), "extra from"), numbers=own,
            api_url=api_base_url(settings.get("host"), settings.get("port")),
            webhook_base_url=base.rstrip("/") if base else None,
            request_timeout=_positive(conn_id, extra, "request_timeout_seconds", 15), concurrency=int(concurrency),
            language=extra.get("language") or None, voice=extra.get("voice") or None)

    def sender_for(self, broker_id: int | None) -> str:
        return self.numbers.get(broker_id, self.sender) if broker_id is not None else self.sender

    def address(self, phone: str) -> str:
        """A lead's phone as Twilio's To on this channel."""
        return f"{WHATSAPP}{phone}" if self.channel == "whatsapp" and not phone.startswith(WHATSAPP) else phone

    def status_callback(self) -> str | None:
        return f"{self.webhook_base_url}/api/v1/webhooks/twilio/status" if self.webhook_base_url else None

    def owns(self, number: str) -> bool:
        return number == self.sender or number in self.numbers.values()

    def broker_of(self, number: str) -> int | None:
        """The broker whose own number this is (None: the shared ``from``, or not ours)."""
        return next((b for b, n in self.numbers.items() if n == number), None)

    @property
    def shared_brokers_excluded(self) -> list[int]:
        """Brokers with their own number: a reply to the shared number is not theirs."""
        return sorted(self.numbers)
