"""``/unsubscribe/{token}``: the signed link every e-mail carries (``List-Unsubscribe``, and in the body).

Public (a lead follows it from a mail client): the token's HMAC signature is its authentication.
``GET`` is the one click of a person, ``POST`` the RFC 8058 one-click of a mail client
(``List-Unsubscribe=One-Click``); both set the lead's ``do_not_contact`` and answer a small page. A bad or
tampered token is 403 and writes nothing. Idempotent.
"""

from __future__ import annotations

import html
import logging
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from include.campaigns.api.services import unsubscribe as service
from include.campaigns.channels.unsubscribe import InvalidLink, UnsubscribeLinks
from include.campaigns.infra.connections import ConnectionConfigError

log = logging.getLogger(__name__)
_HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
router = APIRouter(tags=["unsubscribe"], responses={
    403: {**_HTML, "description": "Not a valid unsubscribe link (nothing is written)"},
    404: {**_HTML, "description": "Unsubscribe links are not configured on this server"},
    503: {**_HTML, "description": "Unsubscribe links are misconfigured, or the database is down"},
    422: {"description": "The token is too long"}})
Token = Annotated[str, Path(min_length=1, max_length=200, description="The signed token of the link")]


def page(status: int, title: str, text: str) -> HTMLResponse:
    body = (f'<!doctype html><html lang="es"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
            '<body style="font-family: sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem">'
            f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>")
    return HTMLResponse(body, status_code=status)


def _follow(request: Request, token: str) -> HTMLResponse:
    try:
        links = UnsubscribeLinks.configured(required=False)
    except ConnectionConfigError as exc:
        log.error("unsubscribe link refused: %s", exc)
        return page(503, "No disponible / Unavailable", "Inténtalo más tarde. / Please try again later.")
    if links is None:
        return page(404, "No encontrado / Not found", "Este servidor no ofrece enlaces de baja. / No unsubscribe "
                                                       "links here.")
    try:
        target = links.verify(token)
    except InvalidLink as exc:
        log.warning("unsubscribe link refused: %s", exc)
        return page(403, "Enlace no válido / Invalid link", "Este enlace de baja no es válido. / This unsubscribe "
                                                            "link is not valid.")
    with request.app.state.engine.get().begin() as conn:
        done = service.unsubscribe(conn, target, datetime.now(timezone.utc))
    who = f" de {done['broker_name']}" if done["broker_name"] else ""
    return page(200, "Baja confirmada / Unsubscribed",
                f"No volverás a recibir mensajes{who}. / You will not receive more messages from us.")


@router.get("/unsubscribe/{token}", response_class=HTMLResponse, summary="Follow an unsubscribe link (one click)")
def unsubscribe_get(token: Token, request: Request) -> HTMLResponse:
    return _follow(request, token)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse,
             summary="RFC 8058 one-click unsubscribe (a mail client's List-Unsubscribe-Post)")
def unsubscribe_post(token: Token, request: Request) -> HTMLResponse:
    return _follow(request, token)
