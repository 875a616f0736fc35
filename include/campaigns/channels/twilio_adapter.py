"""The ``twilio`` adapter: SMS, WhatsApp and voice calls through the official ``twilio`` library.

Configured only by the channel's Airflow connection (``twilio_settings.py``). A message is
``POST /2010-04-01/Accounts/{sid}/Messages.json``; a call is ``Calls.json`` with inline TwiML that speaks the
step's rendered call script (``<Say language=...>``, the language from ``channels/language.py`` or the extra).

Twilio has no idempotency key, so ``ledger.py`` claims every key before its request and stores the SID it
gets back: a retry returns the stored SID and never sends twice. When a request got no answer (a timeout,
a dropped connection) the claim stays, and the next attempt looks the message up in the account
(``reconcile``: same To and From, created after the claim, body equal for messages, a SID no other key holds);
found, it is SENT with that SID; not found, it is never sent again.

Errors, by Twilio's answers: 429 (20429) and 5xx are transient (the request created nothing: retried by the
policy); any other 4xx is a permanent refusal whose code and message become the step's reason (21211 invalid
'To' number, 21610 unsubscribed recipient, 21614 not a mobile number, 63016 outside WhatsApp's window...).
A connection refused is transient and certainly not sent; a read timeout or a reset is "outcome unknown".
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from include.campaigns.channels.base import OutboundMessage
from include.campaigns.channels.ledger import Attempt, DeliveryLedger, Entry, LedgerDelivery
from include.campaigns.channels.resilient import RetryPolicy
from include.campaigns.channels.twilio_settings import TwilioSettings
from include.campaigns.infra.connections import ConnectionConfigError

log = logging.getLogger(__name__)
# The library logs every request and response header at INFO: only its warnings reach the task log.
HTTP_LOG = logging.getLogger(__name__ + ".http")
HTTP_LOG.setLevel(logging.WARNING)
CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]
RECONCILE_MARGIN = timedelta(minutes=5)  # clocks of Twilio and the database differ a little
_CREDENTIAL_CODES = {20003, 20404, 20005}  # authenticate; account not found; account not active


def _twilio_error(exc: Exception) -> tuple[int | None, int | None, str]:
    """(HTTP status, Twilio code, message) of a TwilioRestException / TwilioServiceException."""
    status = getattr(exc, "status", None)
    code = getattr(exc, "code", None)
    msg = getattr(exc, "msg", None) or getattr(exc, "detail", None) or getattr(exc, "title", None) or ""
    for prefix in ("Unable to create record: ", "Unable to fetch record: ", "Unable to fetch page: "):
        msg = msg[len(prefix):] if msg.startswith(prefix) else msg
    return status, code, str(msg)


def classify(key: str, exc: Exception) -> Attempt:
    """A failed request as the ledger sees it."""
    import requests
    from twilio.base.exceptions import TwilioException

    if isinstance(exc, TwilioException) and getattr(exc, "status", None) is not None:
        status, code, msg = _twilio_error(exc)
        error = f"twilio {code or status}: {msg}".rstrip(": ")
        if status == 429 or code == 20429 or (status or 0) >= 500:
            return Attempt(key, "not_sent", error=error)
        return Attempt(key, "refused", error_code=str(code or status), error=error)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return Attempt(key, "not_sent", error=f"twilio: connect timeout ({exc.__class__.__name__})")
    if isinstance(exc, requests.exceptions.ConnectionError) and _refused(exc):
        return Attempt(key, "not_sent", error="twilio: connection refused")
    return Attempt(key, "unknown", error=f"twilio: no answer ({type(exc).__name__}: {exc})"[:500])


def _refused(exc: BaseException) -> bool:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ConnectionRefusedError) or type(exc).__name__ == "NewConnectionError":
            return True
        first = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        reason = getattr(exc, "reason", None)
        exc = reason if isinstance(reason, BaseException) else first or exc.__cause__ or exc.__context__
    return False


def call_twiml(script: str, language: str | None, voice: str | None) -> str:
    from twilio.twiml.voice_response import VoiceResponse

    response = VoiceResponse()
    attrs = {k: v for k, v in (("language", language), ("voice", voice)) if v}
    response.say(script, **attrs)
    return str(response)


class TwilioAdapter(LedgerDelivery):
    provider = "twilio"
    # Per-request timeouts live in the HTTP client (request_timeout_seconds); the batch has no deadline of
    # its own, so no abandoned request keeps running behind the executor's back.
    default_retry_policy = RetryPolicy(timeout_seconds=None, max_attempts=4, backoff_seconds=1.0,
                                       max_backoff_seconds=16.0)

    def __init__(self, channel: str, settings: dict[str, Any], engine: Engine | None = None) -> None:
        if engine is None:
            raise ValueError("the twilio adapter keeps its idempotency ledger in the campaign database: pass engine")
        self.channel = channel
        self.cfg = TwilioSettings.parse(channel, settings)
        self.ledger = DeliveryLedger(engine, self.provider)
        self._local = threading.local()

    # -- the client ---------------------------------------------------------------------------------------
    def client(self) -> Any:
        """One client per thread (a requests Session is not shared between threads)."""
        client = getattr(self._local, "client", None)
        if client is None:
            from twilio.http.http_client import TwilioHttpClient
            from twilio.rest import Client

            client = Client(self.cfg.account_sid, self.cfg.auth_token,
                            http_client=TwilioHttpClient(timeout=self.cfg.request_timeout, logger=HTTP_LOG),
                            environment={"TWILIO_UNUSED": ""})  # never credentials from the environment
            client.api.base_url = self.cfg.api_url
            self._local.client = client
        return client

    def check_connection(self) -> None:
        """Refuse wrong credentials before any step runs (they would fail every message)."""
        from twilio.base.exceptions import TwilioException

        try:
            self.client().api.v2010.accounts(self.cfg.account_sid).fetch()
        except TwilioException as exc:
            status, code, msg = _twilio_error(exc)
            if status in (401, 403, 404) or code in _CREDENTIAL_CODES:
                raise ConnectionConfigError(
                    f"connection {self.cfg.conn_id}: Twilio refused its Account SID / Auth Token "
                    f"(HTTP {status}, code {code}: {msg})") from None
            log.warning("connection %s: Twilio account check failed (%s %s), sending anyway", self.cfg.conn_id,
                        status, code)
        except Exception as exc:  # unreachable now: the sends will say so, per message
            log.warning("connection %s: Twilio account check failed (%s), sending anyway", self.cfg.conn_id,
                        type(exc).__name__)

    # -- sending ------------------------------------------------------------------------------------------
    def send(self, messages: Sequence[OutboundMessage]) -> list[Attempt]:
        if len(messages) == 1 or self.cfg.concurrency == 1:
            return [self._send_one(m) for m in messages]
        with ThreadPoolExecutor(max_workers=min(self.cfg.concurrency, len(messages)),
                                thread_name_prefix=f"twilio-{self.channel}") as pool:
            return list(pool.map(self._send_one, messages))

    def _send_one(self, m: OutboundMessage) -> Attempt:
        try:
            if self.channel == "voice":
                return self._call(m)
            if not m.body.strip():
                return Attempt(m.idempotency_key, "refused", error_code="empty_body", error="empty message body")
            msg = self.client().messages.create(
                to=self.cfg.address(m.recipient), from_=self.cfg.sender_for(m.broker_id), body=m.body,
                **self._callback(m))
            return Attempt(m.idempotency_key, "sent", provider_ref=msg.sid, status=msg.status or "queued")
        except Exception as exc:
            return classify(m.idempotency_key, exc)

    def _call(self, m: OutboundMessage) -> Attempt:
        if not m.body.strip():
            return Attempt(m.idempotency_key, "refused", error_code="no_call_script",
                           error="no_call_script: the make_call step names no voice template to speak")
        extra: dict[str, Any] = self._callback(m)
        if extra:
            extra["status_callback_event"] = CALL_EVENTS
            extra["status_callback_method"] = "POST"
        call = self.client().calls.create(
            to=m.recipient, from_=self.cfg.sender_for(m.broker_id),
            twiml=call_twiml(m.body, self.cfg.language or m.language, self.cfg.voice), **extra)
        return Attempt(m.idempotency_key, "sent", provider_ref=call.sid, status=call.status or "queued")

    def _callback(self, m: OutboundMessage) -> dict[str, Any]:
        url = self.cfg.status_callback()
        if not url:
            return {}
        from urllib.parse import quote

        return {"status_callback": f"{url}?key={quote(m.idempotency_key, safe='')}"}

    # -- lost answers -------------------------------------------------------------------------------------
    def reconcile(self, pending: Sequence[tuple[OutboundMessage, Entry]]) -> dict[str, Attempt]:
        found: dict[str, Attempt] = {}
        for m, entry in pending:
            try:
                attempt = self._find(m, entry)
            except Exception as exc:  # the lookup failed too: still unknown, try again later
                log.warning("twilio: looking up message %s failed (%s)", m.idempotency_key, type(exc).__name__)
                continue
            if attempt is not None:
                found[m.idempotency_key] = attempt
        return found

    def _find(self, m: OutboundMessage, entry: Entry) -> Attempt | None:
        client, sender = self.client(), self.cfg.sender_for(m.broker_id)
        if self.channel == "voice":
            items = client.calls.list(to=m.recipient, from_=sender, limit=20)
        else:
            items = [i for i in client.messages.list(to=self.cfg.address(m.recipient), from_=sender, limit=20)
                     if i.body == m.body]
        since = entry.updated_at - RECONCILE_MARGIN
        items = [i for i in items if i.sid and (i.date_created is None or i.date_created >= since)]
        taken = self.ledger.known_refs([i.sid for i in items])
        free = sorted((i for i in items if i.sid not in taken), key=lambda i: i.date_created or since)
        if not free:
            return None
        log.info("twilio: the lost answer for %s was found (%s)", m.idempotency_key, free[0].sid)
        return Attempt(m.idempotency_key, "sent", provider_ref=free[0].sid, status=free[0].status or "queued")
