"""Is this webhook really from Twilio? Its ``X-Twilio-Signature``, checked with the Auth Token of the channel
connection whose Account SID the request names, against the public URL Twilio called.

The public URL is the connection's extra ``webhook_base_url`` + the path and query the API server received
(so a proxy in front may change host, scheme and port, but not the path); without ``webhook_base_url`` it is
the URL as the API server received it. A request without a signature, for an account no ``twilio``
connection has, or whose signature does not match is ``Forbidden`` -- before anything is read or written.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from include.campaigns.api.services.errors import Forbidden
from include.campaigns.channels.registry import adapter_settings, channel_connection
from include.campaigns.channels.twilio_settings import TwilioSettings

log = logging.getLogger(__name__)
TWILIO_CHANNELS = ("sms", "whatsapp", "voice")


@dataclass(frozen=True)
class SignedRequest:
    url: str  # as the API server received it
    path_and_query: str
    params: Any  # the form fields (a multi-dict)
    signature: str | None
    signature_settings: str | None = None  # X-Twilio-Webhooks-Signature-Settings


def twilio_connections() -> list[TwilioSettings]:
    """The channel connections served by the twilio adapter (a malformed one is a ConnectionConfigError)."""
    found = []
    for channel in TWILIO_CHANNELS:
        conn = channel_connection(channel)
        if conn is not None and conn.extra.get("adapter") == "twilio":
            found.append(TwilioSettings.parse(channel, adapter_settings(conn)))
    return found


def public_url(cfg: TwilioSettings, request: SignedRequest) -> str:
    return cfg.webhook_base_url + request.path_and_query if cfg.webhook_base_url else request.url


def verify(request: SignedRequest, params: Mapping[str, Any]) -> list[TwilioSettings]:
    """The connections of the account that signed the request; Forbidden unless the signature is valid."""
    from twilio.request_validator import RequestValidator, get_signature_algorithm

    if not request.signature:
        raise Forbidden("missing X-Twilio-Signature header")
    account = params.get("AccountSid")
    candidates = [c for c in twilio_connections() if account and c.account_sid == account]
    if not candidates:
        log.warning("Twilio webhook for an account no twilio channel connection has: refused")
        raise Forbidden("no twilio channel connection has the request's AccountSid")
    algorithm = get_signature_algorithm(request.signature_settings)
    for cfg in candidates:
        if RequestValidator(cfg.auth_token).validate(public_url(cfg, request), request.params, request.signature,
                                                     algorithm):
            return [c for c in candidates if c.auth_token == cfg.auth_token]
    log.warning("Twilio webhook with an invalid signature for %s (checked against %s): refused", request.path_and_query,
                ", ".join(sorted({public_url(c, request) for c in candidates})))
    raise Forbidden("invalid X-Twilio-Signature")
