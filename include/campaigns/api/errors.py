"""Errors as HTTP answers: ``{"detail": ...}``, and for a 422 the list of fields in ``errors``.

Service rules raise ``ServiceError`` kinds (no HTTP in the service layer); this module maps them.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from include.campaigns.api.dagruns import DagNotAvailable
from include.campaigns.api.deps import HttpError
from include.campaigns.api.services.errors import Conflict, Forbidden, InvalidField, NotFound, ServiceError

log = logging.getLogger(__name__)

SERVICE_STATUS: dict[type[ServiceError], int] = {NotFound: 404, Conflict: 409, Forbidden: 403, InvalidField: 422}
_SOURCES = ("body", "query", "path", "header", "cookie")


def _field_of(err: dict[str, Any]) -> str:
    ctx = err.get("ctx") or {}
    if isinstance(ctx.get("field"), str):
        return ctx["field"]
    loc = list(err.get("loc") or ())
    source = loc.pop(0) if loc and loc[0] in _SOURCES else "body"
    if err.get("type") == "json_invalid" or not loc:
        return source
    return ".".join(str(p) for p in loc)


def validation_payload(errors: list[dict[str, Any]]) -> dict[str, Any]:
    out = []
    for err in errors:
        field = _field_of(err)
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "json_invalid":
            msg = f"invalid JSON ({(err.get('ctx') or {}).get('error', msg)})"
        message = msg if msg.startswith(f"{field}: ") else f"{field}: {msg}"
        out.append({"field": field, "message": message, "type": str(err.get("type", "value_error"))})
    return {"detail": "; ".join(e["message"] for e in out) or "invalid request", "errors": out}


def _field_error(status_code: int, field: str, message: str, kind: str) -> JSONResponse:
    return JSONResponse(status_code=status_code,
                        content={"detail": message, "errors": [{"field": field, "message": message, "type": kind}]})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content=validation_payload(list(exc.errors())))

    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError) -> JSONResponse:
        code = next((c for kind, c in SERVICE_STATUS.items() if isinstance(exc, kind)), 500)
        if isinstance(exc, InvalidField):
            return _field_error(422, exc.field, exc.detail, "invalid_field")
        return JSONResponse(status_code=code, content={"detail": exc.detail})

    @app.exception_handler(HttpError)
    async def _http_error(request: Request, exc: HttpError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail}, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400:  # FastAPI could not parse the body (not UTF-8, ...): a body error like the others
            message = f"body: could not be parsed ({exc.detail}); send a UTF-8 JSON object"
            return _field_error(422, "body", message, "body_unparsable")
        if exc.status_code != 405:
            return await http_exception_handler(request, exc)
        # Starlette's Allow lists only the first route of the path; list every method of the path.
        methods: set[str] = set()
        for route in request.app.router.routes:
            if isinstance(route, APIRoute) and route.matches(request.scope)[0] != Match.NONE:
                methods |= route.methods or set()
        return JSONResponse(status_code=405, content={"detail": "Method Not Allowed"},
                            headers={"Allow": ", ".join(sorted(methods))})

    @app.exception_handler(DagNotAvailable)
    async def _dag(request: Request, exc: DagNotAvailable) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    @app.exception_handler(OperationalError)
    async def _db_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.exception("campaign database unavailable")
        return JSONResponse(status_code=503, content={"detail": "campaign database unavailable, retry later"})

    @app.exception_handler(DBAPIError)
    async def _db_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if getattr(exc.orig, "sqlstate", None) == "42P01":  # undefined_table: schema not migrated
            return JSONResponse(status_code=503, content={
                "detail": "campaign database schema is not up to date: run `campaigns db upgrade`"})
        log.exception("campaign database error")
        return JSONResponse(status_code=500, content={"detail": "internal error"})
