"""``/webhooks/twilio/...``: Twilio's delivery receipts and incoming messages.

Not behind the Airflow JWT (Twilio cannot log in): each request must carry a valid ``X-Twilio-Signature``
(``services/twilio_signature.py``), else 403 and nothing is written. Point the Twilio number's "A message
comes in" webhook at ``<webhook_base_url>/api/v1/webhooks/twilio/inbound`` (HTTP POST); status callbacks
are requested by the adapter itself when the connection has ``webhook_base_url``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import DBAPIError

from include.campaigns.api.deps import HttpError
from include.campaigns.api.routers.responses import INVALID
from include.campaigns.api.schemas.common import ErrorOut
from include.campaigns.api.schemas.webhooks import INBOUND_FORM, STATUS_FORM, StatusReceiptOut
from include.campaigns.api.services import deliveries, replies
from include.campaigns.api.services.errors import Forbidden
from include.campaigns.api.services.twilio_signature import SignedRequest, verify
from include.campaigns.infra.connections import ConnectionConfigError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"], responses={
    403: {"model": ErrorOut, "description": "Missing or invalid X-Twilio-Signature (nothing is written)"},
    503: {"model": ErrorOut, "description": "A Twilio channel connection is malformed, or the database is down"},
    **INVALID})
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
DEADLOCK_RETRIES = 3


async def _signed(request: Request) -> tuple[SignedRequest, dict[str, str]]:
    form = await request.form()
    if any(not isinstance(v, str) for _k, v in form.multi_items()):
        raise Forbidden("Twilio webhooks are form-encoded text")
    query = f"?{request.url.query}" if request.url.query else ""
    signed = SignedRequest(str(request.url), request.url.path + query, form,
                           request.headers.get("X-Twilio-Signature"),
                           request.headers.get("X-Twilio-Webhooks-Signature-Settings"))
    return signed, {k: v for k, v in form.items() if isinstance(v, str)}


def _run(request: Request, signed: SignedRequest, fields: dict[str, str], work) -> Any:
    """Check the signature, then do ``work(conn, connections, now)`` in one transaction (again on a deadlock)."""
    try:
        connections = verify(signed, fields)
    except ConnectionConfigError as exc:
        log.error("Twilio webhook refused: %s", exc)
        raise HttpError(503, f"Twilio webhooks are misconfigured: {exc}") from None
    engine = request.app.state.engine.get()
    for attempt in range(1, DEADLOCK_RETRIES + 1):
        try:
            with engine.begin() as conn:
                return work(conn, connections, datetime.now(timezone.utc))
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != "40P01" or attempt == DEADLOCK_RETRIES:
                raise
            log.warning("Twilio webhook: deadlock, attempt %d of %d", attempt, DEADLOCK_RETRIES)
    raise AssertionError("unreachable")


@router.post("/status", response_model=StatusReceiptOut, openapi_extra=STATUS_FORM,
             summary="Twilio status callback: the delivery status of a message or call (the step's log stays SENT)")
async def twilio_status(request: Request) -> dict[str, Any]:
    signed, fields = await _signed(request)
    key = request.query_params.get("key")
    return await run_in_threadpool(_run, request, signed, fields,
                                   lambda conn, _c, now: deliveries.record_status(conn, fields, key, now))


@router.post("/inbound", response_class=Response, openapi_extra=INBOUND_FORM,
             responses={200: {"content": {"text/xml": {"schema": {"type": "string"}}},
                              "description": "Empty TwiML: nothing is sent back"}},
             summary="Twilio incoming message: STOP/BAJA/UNSUBSCRIBE/CANCELAR = do_not_contact; "
                     "any other reply ends the lead's active enrolments (SKIPPED lead_replied)")
async def twilio_inbound(request: Request) -> Response:
    signed, fields = await _signed(request)

    def work(conn, connections, now):
        return replies.handle_inbound(conn, connections, replies.Inbound.from_form(fields), now)

    outcome = await run_in_threadpool(_run, request, signed, fields, work)
    log.info("Twilio inbound %s: %s", fields.get("MessageSid"), {k: v for k, v in outcome.items() if k != "lead_ids"})
    return Response(EMPTY_TWIML, media_type="text/xml")
