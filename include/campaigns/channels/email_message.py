"""The e-mail a send_message step becomes: headers that make it traceable, deduplicable and unsubscribable.

* ``Message-ID`` is derived from the idempotency key (``<campaign-12.lead-34.step-2@sender-domain>``): every
  retry of a step carries the same one, so a receiving system that saw it already can drop the copy, and a
  delivery can be traced back to its step.
* ``List-Unsubscribe`` (the signed link) and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058),
  so mail clients show their own unsubscribe button; the same link closes the body.
* ``Date`` is the run time (the step's execution time), like every timestamp the pipeline writes.
"""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

from include.campaigns.channels.base import OutboundMessage

FOOTER = "\n\n--\nSi no deseas recibir más mensajes / To stop receiving these e-mails: {url}\n"


def sender_domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "localhost"


def envelope_address(sender: str) -> str:
    return parseaddr(sender)[1]


def message_id(idempotency_key: str, domain: str) -> str:
    campaign, lead, step = idempotency_key.split(":")
    return f"<campaign-{campaign}.lead-{lead}.step-{step}@{domain}>"


def build(m: OutboundMessage, sender: str, unsubscribe_url: str, footer: str = FOOTER) -> EmailMessage:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = Address(addr_spec=m.recipient)
    msg["Subject"] = m.subject or ""
    msg["Date"] = format_datetime(m.requested_at)
    msg["Message-ID"] = message_id(m.idempotency_key, sender_domain(sender))
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(m.body + footer.format(url=unsubscribe_url), subtype="plain", charset="utf-8")
    return msg
