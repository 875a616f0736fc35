"""What a lead's reply does (Twilio's inbound SMS / WhatsApp webhook), exactly once per inbound message.

* Which lead: the receiving number (``To``) names the channel connection and, when it is a broker's own
  number (extra ``numbers``), the broker; a reply to the shared ``from`` goes to the broker whose campaign
  last wrote to that phone on that channel (else the lead with the lowest id). Within that broker, every lead
  whose phone has the sender's digits is that person.
* STOP / BAJA / UNSUBSCRIBE / CANCELAR (case, accents, surrounding blanks and punctuation ignored) sets
  those leads' ``do_not_contact``.
* Any other reply ends their ACTIVE enrolments in the broker's campaigns: status STOPPED and one
  ``SKIPPED lead_replied`` log each (``write_logs``, so ``campaign_stats`` stays equal to the logs; run_id
  ``twilio-inbound:<MessageSid>``).
* Every inbound message is kept in ``lead_replies`` (lead null when nobody has that number); the unique
  MessageSid makes a webhook Twilio retries a no-op.
"""

from __future__ import annotations

import logging
import re
import string
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from include.campaigns.api.services.errors import InvalidField
from include.campaigns.channels.twilio_settings import WHATSAPP, TwilioSettings
from include.campaigns.engine.logs import LogRow, write_logs
from include.campaigns.infra.database import SqlFolder

SQL = SqlFolder(__file__)
log = logging.getLogger(__name__)
OPT_OUT_WORDS = frozenset({"STOP", "BAJA", "UNSUBSCRIBE", "CANCELAR"})
LEAD_REPLIED = "lead_replied"
_EDGES = string.whitespace + string.punctuation + "¡¿«»“”‘’"


def normalise(text: str | None) -> str:
    """Upper case, no accents, no surrounding blanks or punctuation: ' Bája! ' -> 'BAJA'."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return bare.strip(_EDGES).upper()


def is_opt_out(text: str | None) -> bool:
    return normalise(text) in OPT_OUT_WORDS


@dataclass(frozen=True)
class Inbound:
    sid: str
    sender: str  # +5215512345678 (the whatsapp: prefix removed)
    receiver: str  # as Twilio names it: +1555... or whatsapp:+1555...
    body: str
    channel: str  # sms | whatsapp

    @classmethod
    def from_form(cls, params: Mapping[str, Any]) -> Inbound:
        values = {}
        for field in ("MessageSid", "From", "To"):
            value = params.get(field) or (params.get("SmsSid") if field == "MessageSid" else None)
            if not isinstance(value, str) or not value.strip():
                raise InvalidField(field, "required")
            values[field] = value.strip()
        receiver = values["To"]
        sender = values["From"]
        channel = "whatsapp" if receiver.startswith(WHATSAPP) else "sms"
        return cls(values["MessageSid"], sender[len(WHATSAPP):] if sender.startswith(WHATSAPP) else sender,
                   receiver, str(params.get("Body") or ""), channel)


def _leads(conn: Connection, msg: Inbound, cfg: TwilioSettings | None) -> tuple[int | None, list[dict]]:
    """(broker, that broker's leads with the sender's number, most recently contacted first)."""
    digits = re.sub(r"[^0-9]", "", msg.sender)
    if cfg is None or not digits:
        return None, []
    own = cfg.broker_of(msg.receiver)
    rows = [dict(r._mapping) for r in conn.execute(SQL("reply_leads"), {
        "digits": digits, "channel": msg.channel, "broker": own,
        "excluded": [] if own is not None else cfg.shared_brokers_excluded})]
    if not rows:
        return own, []
    broker = rows[0]["broker_id"]
    return broker, [r for r in rows if r["broker_id"] == broker]


def handle_inbound(conn: Connection, connections: Sequence[TwilioSettings], msg: Inbound,
                   now: datetime) -> dict[str, Any]:
    cfg = next((c for c in connections if c.channel == msg.channel and c.owns(msg.receiver)), None)
    if cfg is None:
        log.warning("inbound Twilio message to %s: no %s connection sends from that number", msg.receiver,
                    msg.channel)
    broker, leads = _leads(conn, msg, cfg)
    kind = "unsubscribe" if is_opt_out(msg.body) else "reply"
    lead_ids = [r["id"] for r in leads]
    inserted = conn.execute(SQL("record_reply"), {
        "broker": broker, "lead": lead_ids[0] if lead_ids else None, "channel": msg.channel, "provider": "twilio",
        "ref": msg.sid, "sender": msg.sender, "body": msg.body, "kind": kind, "now": now}).first()
    out: dict[str, Any] = {"kind": kind, "lead_ids": lead_ids, "duplicate": inserted is None, "unsubscribed": 0,
                           "enrolments_ended": 0}
    if inserted is None or not lead_ids:
        return out
    if kind == "unsubscribe":
        out["unsubscribed"] = conn.execute(SQL("unsubscribe_leads"), {"ids": lead_ids}).rowcount
        return out
    stopped = conn.execute(SQL("stop_replied_enrolments"), {"broker": broker, "leads": lead_ids, "now": now}).all()
    write_logs(conn, [LogRow(campaign_id, lead_id, None, None, "SKIPPED", LEAD_REPLIED, now,
                             f"twilio-inbound:{msg.sid}", msg.channel, broker) for campaign_id, lead_id in stopped])
    out["enrolments_ended"] = len(stopped)
    return out
