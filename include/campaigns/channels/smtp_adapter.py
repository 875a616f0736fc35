"""The ``smtp`` adapter: e-mail through any SMTP server, with Python's ``smtplib``.

Connection ``channel_email``: host, port (default 587; 465 with extra ``ssl``), login and password (optional:
no AUTH without them), extra ``from`` (``"Inmobiliaria Sol <hola@sol.mx>"``), ``starttls`` (default true: the
session is upgraded before AUTH, and a server that cannot is an error), ``ssl`` (implicit TLS, default false),
``tls_ca_file`` (a CA bundle for a private relay), ``request_timeout_seconds`` (per SMTP command, default 30).
Links: connection ``campaigns_unsubscribe`` (``unsubscribe.py``), required.

One SMTP session per batch; per message MAIL, RCPT, DATA, so each answer is known: a 4xx is transient (not
accepted: retried by the policy), a 5xx permanent (FAILED with the server's code and text), a drop during
DATA "outcome unknown" (never sent again). ``ledger.py`` keeps the Message-ID of every accepted message per
key, so a retried chunk gets the first answer back instead of a second e-mail.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from include.campaigns.channels import email_message
from include.campaigns.channels.base import OutboundMessage
from include.campaigns.channels.ledger import Attempt, DeliveryLedger, LedgerDelivery
from include.campaigns.channels.resilient import RetryPolicy
from include.campaigns.channels.unsubscribe import UnsubscribeLinks
from include.campaigns.infra.connections import ConnectionConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpSettings:
    conn_id: str
    host: str
    port: int
    login: str | None
    password: str | None = field(repr=False)
    sender: str
    starttls: bool
    implicit_tls: bool
    ca_file: str | None
    timeout: float

    @classmethod
    def parse(cls, settings: dict[str, Any]) -> SmtpSettings:
        conn_id = settings.get("conn_id") or "channel_email"
        extra = settings.get("extra") or {}
        if not settings.get("host"):
            raise ConnectionConfigError(f"connection {conn_id}: host must name the SMTP server")
        sender = extra.get("from")
        if not isinstance(sender, str) or "@" not in email_message.envelope_address(sender):
            raise ConnectionConfigError(f"connection {conn_id}: extra from must be the sender's address, e.g. "
                                        '"Inmobiliaria Sol <hola@sol.mx>"')
        flags = {}
        for key, default in (("starttls", True), ("ssl", False)):
            flags[key] = extra.get(key, default)
            if not isinstance(flags[key], bool):
                raise ConnectionConfigError(f"connection {conn_id}: extra {key} must be true or false")
        timeout = extra.get("request_timeout_seconds", 30)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ConnectionConfigError(f"connection {conn_id}: extra request_timeout_seconds must be positive")
        if bool(settings.get("login")) != bool(settings.get("password")):
            raise ConnectionConfigError(f"connection {conn_id}: give both login and password, or neither")
        return cls(conn_id, settings["host"], int(settings.get("port") or (465 if flags["ssl"] else 587)),
                   settings.get("login") or None, settings.get("password") or None, sender,
                   flags["starttls"] and not flags["ssl"], flags["ssl"], extra.get("tls_ca_file") or None,
                   float(timeout))


def _code_attempt(key: str, code: int, text: bytes | str, what: str) -> Attempt:
    reply = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    error = f"smtp {code} ({what}): {reply}"[:500]
    if 400 <= code < 500:
        return Attempt(key, "not_sent", error=error)
    return Attempt(key, "refused", error_code=str(code), error=error)


def _reset(smtp: smtplib.SMTP) -> None:
    try:
        smtp.rset()
    except (OSError, smtplib.SMTPException):
        pass


class SmtpAdapter(LedgerDelivery):
    provider = "smtp"
    default_retry_policy = RetryPolicy(timeout_seconds=None, max_attempts=4, backoff_seconds=2.0,
                                       max_backoff_seconds=30.0)

    def __init__(self, channel: str, settings: dict[str, Any], engine: Engine | None = None) -> None:
        if engine is None:
            raise ValueError("the smtp adapter keeps its idempotency ledger in the campaign database: pass engine")
        if channel != "email":
            raise ConnectionConfigError(f"connection {settings.get('conn_id')}: the smtp adapter serves email only")
        self.channel = channel
        self.cfg = SmtpSettings.parse(settings)
        self.links = UnsubscribeLinks.configured()
        self.ledger = DeliveryLedger(engine, self.provider)

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cfg.ca_file)

    def open(self) -> smtplib.SMTP:
        """A ready session: connected, TLS as configured, logged in. Raises what smtplib raises."""
        cfg = self.cfg
        if cfg.implicit_tls:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=self._context())
        else:
            smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
        try:
            smtp.ehlo()
            if cfg.starttls:
                if not smtp.has_extn("starttls"):
                    raise ConnectionConfigError(
                        f"connection {cfg.conn_id}: {cfg.host}:{cfg.port} does not offer STARTTLS (extra starttls is "
                        "true; set it to false only for a relay on a trusted network)")
                smtp.starttls(context=self._context())
                smtp.ehlo()
            if cfg.login:
                smtp.login(cfg.login, cfg.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def check_connection(self) -> None:
        """Wrong credentials or a server without the TLS it must have fail the task before any step runs."""
        try:
            smtp = self.open()
        except smtplib.SMTPAuthenticationError as exc:
            raise ConnectionConfigError(f"connection {self.cfg.conn_id}: the SMTP server refused its login "
                                        f"({exc.smtp_code})") from None
        except ssl.SSLError as exc:
            raise ConnectionConfigError(f"connection {self.cfg.conn_id}: TLS with {self.cfg.host} failed "
                                        f"({exc.reason or exc})") from None
        except (OSError, smtplib.SMTPException) as exc:  # unreachable now: the sends will say so, per message
            log.warning("connection %s: SMTP check failed (%s), sending anyway", self.cfg.conn_id, type(exc).__name__)
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            pass

    def send(self, messages: Sequence[OutboundMessage]) -> list[Attempt]:
        try:
            smtp = self.open()
        except (OSError, smtplib.SMTPException, ConnectionConfigError) as exc:
            # Nothing was sent: 4xx greeting, refused connection, TLS or AUTH trouble, a timeout.
            code = getattr(exc, "smtp_code", None)
            if isinstance(code, int) and code >= 500 and not isinstance(exc, smtplib.SMTPAuthenticationError):
                return [_code_attempt(m.idempotency_key, code, getattr(exc, "smtp_error", b""), "connect")
                        for m in messages]
            error = f"smtp: cannot open a session with {self.cfg.host}:{self.cfg.port} ({type(exc).__name__}: {exc})"
            return [Attempt(m.idempotency_key, "not_sent", error=error[:500]) for m in messages]
        attempts: list[Attempt] = []
        try:
            for i, m in enumerate(messages):
                attempt = self._send_one(smtp, m)
                attempts.append(attempt)
                if attempt.state == "unknown":  # the session is gone: the rest were not sent
                    attempts += [Attempt(n.idempotency_key, "not_sent", error="smtp: session lost before this message")
                                 for n in messages[i + 1:]]
                    break
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
        return attempts

    def _send_one(self, smtp: smtplib.SMTP, m: OutboundMessage) -> Attempt:
        key = m.idempotency_key
        try:
            mail = email_message.build(m, self.cfg.sender, self.links.url(m.lead_id, m.campaign_id, m.step_number))
        except (ValueError, TypeError) as exc:
            return Attempt(key, "refused", error_code="invalid_address", error=f"invalid e-mail address: {exc}"[:500])
        try:
            code, text = smtp.mail(email_message.envelope_address(self.cfg.sender))
            if code != 250:
                _reset(smtp)
                return _code_attempt(key, code, text, "MAIL FROM")
            code, text = smtp.rcpt(m.recipient)
            if code not in (250, 251):
                _reset(smtp)
                return _code_attempt(key, code, text, "RCPT TO")
        except (OSError, smtplib.SMTPException) as exc:  # before DATA: nothing was accepted
            return Attempt(key, "not_sent", error=f"smtp: {type(exc).__name__}: {exc}"[:500])
        try:
            code, text = smtp.data(mail.as_bytes())
        except smtplib.SMTPDataError as exc:  # DATA itself refused: not accepted
            _reset(smtp)
            return _code_attempt(key, exc.smtp_code, exc.smtp_error, "DATA")
        except (OSError, socket.timeout, smtplib.SMTPException) as exc:
            return Attempt(key, "unknown", error=f"smtp: no answer to DATA ({type(exc).__name__}: {exc})"[:500])
        if code != 250:
            _reset(smtp)
            return _code_attempt(key, code, text, "end of DATA")
        return Attempt(key, "sent", provider_ref=mail["Message-ID"], status="sent")
