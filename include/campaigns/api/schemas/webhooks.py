"""What the webhook and unsubscribe routes answer, and the forms Twilio posts (for the OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from include.campaigns.api.schemas.common import ResponseBody


class StatusReceiptOut(ResponseBody):
    sid: str
    status: str
    recorded: bool  # false: a repeated or out-of-order callback, or a message this project did not send


def twilio_form(description: str, fields: dict[str, str], required: list[str]) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads Twilio's form-encoded body itself (it needs every field)."""
    return {"requestBody": {"required": True, "description": description, "content": {
        "application/x-www-form-urlencoded": {"schema": {
            "type": "object", "required": required, "additionalProperties": {"type": "string"},
            "properties": {name: {"type": "string", "description": d} for name, d in fields.items()}}}}}}


STATUS_FORM = twilio_form(
    "Twilio's status callback (messages: MessageSid + MessageStatus; calls: CallSid + CallStatus).",
    {"AccountSid": "The Twilio account", "MessageSid": "The message (SM...)", "MessageStatus":
     "queued, sent, delivered, undelivered, failed, read, ...", "CallSid": "The call (CA...)",
     "CallStatus": "queued, initiated, ringing, in-progress, completed, busy, no-answer, failed, canceled",
     "ErrorCode": "Twilio's error code, for undelivered / failed"},
    ["AccountSid"])
INBOUND_FORM = twilio_form(
    "Twilio's incoming-message webhook (SMS or WhatsApp).",
    {"AccountSid": "The Twilio account", "MessageSid": "The inbound message (SM...)",
     "From": "The sender: +<number> or whatsapp:+<number>", "To": "The receiving number (one of ours)",
     "Body": "The text"},
    ["AccountSid", "MessageSid", "From", "To"])
