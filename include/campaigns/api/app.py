"""The admin API as a FastAPI app: ``create_app()``.

Served inside the Airflow API server by ``plugins/campaigns_api.py`` (mounted at ``/api/v1``), or alone
(``python -m include.campaigns.api serve``, tests) with ``prefix="/api/v1"``. Creating the app does no
database or network work: the campaign database engine is resolved on the first request.

Three things are injectable (keyword arguments, also kept on ``app.state``):

- ``engine``: an SQLAlchemy Engine, or a callable returning one (default: the ``campaigns_db`` connection);
- ``token_validator``: ``token -> Principal`` (default: Airflow's auth manager, see ``auth.py``);
- ``dag_trigger``: ``(dag_id, conf, username) -> TriggeredRun`` (default: Airflow's own DAG-run creation,
  see ``dagruns.py``).
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from include.campaigns.api import service
from include.campaigns.api.auth import InvalidToken, Principal, TokenValidator, airflow_token_validator
from include.campaigns.api.dagruns import DAG_ID, AirflowDagRunTrigger, DagNotAvailable, DagRunTrigger, TriggeredRun
from include.campaigns.api.models import (
    BIGINT_MAX,
    INT_MAX,
    ApplyOut,
    CampaignCreate,
    CampaignDetail,
    CampaignOut,
    CampaignPage,
    CampaignStatus,
    ErrorOut,
    StatusChange,
    StepBody,
    StepCreate,
    StepOut,
    ValidationErrorOut,
)
from include.campaigns.api.service import ApiError

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
COOKIE_NAME_JWT_TOKEN = "_token"  # the cookie the Airflow UI keeps its JWT in
GRANT_HINT = "python -m include.campaigns.api grant <username> <broker_id>"

DESCRIPTION = f"""
Create campaigns, add their steps, activate/pause/archive them and apply them to leads
(use case UC-06). Served by an Airflow plugin inside the Airflow API server.

**Auth**: send an Airflow JWT as `Authorization: Bearer <token>`; get one from the API server with
`POST /auth/token` (`{{"username": ..., "password": ...}}`). Only Airflow admins may call this API:
no/invalid/expired token = 401, a user without the admin role = 403.

**Broker scoping**: the table `broker_admins(username, broker_id)` says which brokers each Airflow user
administers (grant with `{GRANT_HINT}`). A campaign or lead of any other broker is a 404.

**Steps of a live campaign**: while a campaign is ACTIVE or PAUSED, steps can only be appended after
the last one; changing or deleting an existing step is a 409 (DRAFT campaigns can change freely,
ARCHIVED ones not at all).

Errors: `{{"detail": "..."}}`; a 422 also lists each invalid field in `errors`. A request that fails
writes nothing.
"""

_ERR = {"model": ErrorOut}
_AUTH = {401: {**_ERR, "description": "No, invalid or expired token"}, 403: {**_ERR, "description": "Not an Airflow admin, or not an admin of that broker"}}
_404 = {404: {**_ERR, "description": "Campaign (or lead, or step) not found for the caller's brokers"}}
_409 = {409: {**_ERR, "description": "Not allowed in the campaign's current status"}}
_422 = {422: {"model": ValidationErrorOut, "description": "Invalid input (each invalid field is named)"}}
_503 = {503: {**_ERR, "description": "Campaign database or Airflow DAG unavailable"}}

CampaignId = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="Campaign id")]
LeadId = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="Lead id")]
StepNumber = Annotated[int, Path(ge=1, le=INT_MAX, description="Step number within the campaign")]


@dataclass(frozen=True)
class Admin:
    """The authenticated caller: an Airflow admin and the brokers they administer."""

    username: str
    brokers: frozenset[int]


class _EngineHolder:
    def __init__(self, engine: Engine | Callable[[], Engine] | None) -> None:
        self._given = engine
        self._engine: Engine | None = engine if isinstance(engine, Engine) else None
        self._lock = threading.Lock()

    def get(self) -> Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    if callable(self._given):
                        self._engine = self._given()
                    else:
                        from include.campaigns.db import get_engine

                        self._engine = get_engine()
        return self._engine


# -- dependencies -------------------------------------------------------------------------------------

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AirflowJWT",
    description="An Airflow JWT: POST /auth/token on the Airflow API server with an admin's username and password.",
)


def _unauthorized(detail: str) -> ApiError:
    return ApiError(status.HTTP_401_UNAUTHORIZED, detail)


async def current_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Admin:
    token = credentials.credentials if credentials else request.cookies.get(COOKIE_NAME_JWT_TOKEN)
    if not token:
        raise _unauthorized("not authenticated: send 'Authorization: Bearer <token>' (token from POST /auth/token)")
    validator: TokenValidator = request.app.state.token_validator
    try:
        principal = validator(token)
        if inspect.isawaitable(principal):
            principal = await principal
    except InvalidToken as exc:
        raise _unauthorized(str(exc) or "invalid token") from None
    assert isinstance(principal, Principal)
    if not principal.is_admin:
        raise ApiError(status.HTTP_403_FORBIDDEN, f"user {principal.username!r} is not an Airflow admin")

    def lookup() -> frozenset[int]:
        with request.app.state.engine.get().connect() as conn:
            return service.broker_ids_for(conn, principal.username)

    brokers = await run_in_threadpool(lookup)
    if not brokers:
        raise ApiError(
            status.HTTP_403_FORBIDDEN,
            f"user {principal.username!r} administers no broker (grant one with: {GRANT_HINT})",
        )
    return Admin(principal.username, brokers)


AdminDep = Annotated[Admin, Depends(current_admin)]


def _engine(request: Request) -> Engine:
    return request.app.state.engine.get()


# -- routes -------------------------------------------------------------------------------------------

router = APIRouter(tags=["campaigns"], responses={**_AUTH, **_503})


@router.post(
    "/campaigns",
    status_code=status.HTTP_201_CREATED,
    response_model=CampaignOut,
    responses={**_422},
    summary="Create a campaign (status DRAFT)",
)
def create_campaign(body: CampaignCreate, admin: AdminDep, request: Request, response: Response) -> dict[str, Any]:
    with _engine(request).begin() as conn:
        broker_id = service.resolve_broker(admin.brokers, body.broker_id, admin.username)
        campaign = service.create_campaign(conn, broker_id, body)
    response.headers["Location"] = str(request.url_for("get_campaign", campaign_id=campaign["id"]))
    return campaign


@router.get("/campaigns", response_model=CampaignPage, responses={**_422}, summary="List campaigns, page by page")
def list_campaigns(
    admin: AdminDep,
    request: Request,
    status_: Annotated[CampaignStatus | None, Query(alias="status", description="Only campaigns in this status")] = None,
    broker_id: Annotated[int | None, Query(ge=1, le=BIGINT_MAX, description="Only this broker's campaigns")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
) -> dict[str, Any]:
    with _engine(request).begin() as conn:
        items, total = service.list_campaigns(
            conn, admin.brokers, status=status_, broker_id=broker_id, limit=limit, offset=offset
        )
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get(
    "/campaigns/{campaign_id}",
    response_model=CampaignDetail,
    responses={**_404, **_422},
    summary="A campaign with its steps, stats and enrolment counts",
)
def get_campaign(campaign_id: CampaignId, admin: AdminDep, request: Request) -> dict[str, Any]:
    with _engine(request).begin() as conn:
        campaign = service.get_campaign(conn, admin.brokers, campaign_id)
        return service.campaign_detail(conn, campaign)


@router.post(
    "/campaigns/{campaign_id}/status",
    response_model=CampaignOut,
    responses={**_404, **_409, **_422},
    summary="Change the status: DRAFT->ACTIVE, ACTIVE<->PAUSED, any non-archived->ARCHIVED",
)
def change_status(campaign_id: CampaignId, body: StatusChange, admin: AdminDep, request: Request) -> dict[str, Any]:
    with _engine(request).begin() as conn:
        return service.change_status(conn, admin.brokers, campaign_id, body.status)


@router.post(
    "/campaigns/{campaign_id}/steps",
    status_code=status.HTTP_201_CREATED,
    response_model=StepOut,
    responses={**_404, **_409, **_422},
    summary="Add a step (ACTIVE/PAUSED campaigns: append only)",
)
def add_step(campaign_id: CampaignId, body: StepCreate, admin: AdminDep, request: Request) -> dict[str, Any]:
    with _engine(request).begin() as conn:
        return service.add_step(conn, admin.brokers, campaign_id, body)


@router.put(
    "/campaigns/{campaign_id}/steps/{step_number}",
    response_model=StepOut,
    responses={**_404, **_409, **_422},
    summary="Replace a step (DRAFT campaigns only)",
)
def replace_step(
    campaign_id: CampaignId, step_number: StepNumber, body: StepBody, admin: AdminDep, request: Request
) -> dict[str, Any]:
    with _engine(request).begin() as conn:
        return service.replace_step(conn, admin.brokers, campaign_id, step_number, body)


@router.delete(
    "/campaigns/{campaign_id}/steps/{step_number}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={**_404, **_409, **_422},
    summary="Delete a step (DRAFT campaigns only)",
)
def delete_step(campaign_id: CampaignId, step_number: StepNumber, admin: AdminDep, request: Request) -> Response:
    with _engine(request).begin() as conn:
        service.delete_step(conn, admin.brokers, campaign_id, step_number)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/campaigns/{campaign_id}/apply-to-lead/{lead_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ApplyOut,
    responses={**_404, **_409, **_422},
    summary="Apply an ACTIVE campaign to one lead: starts a campaign_executor DAG run",
)
def apply_to_lead(campaign_id: CampaignId, lead_id: LeadId, admin: AdminDep, request: Request) -> dict[str, Any]:
    with _engine(request).begin() as conn:
        service.check_apply(conn, admin.brokers, campaign_id, lead_id)
    conf = {"campaign_id": campaign_id, "lead_id": lead_id}
    trigger: DagRunTrigger = request.app.state.dag_trigger
    dag_id: str = request.app.state.dag_id
    try:
        run = trigger(dag_id, conf, admin.username)
    except SQLAlchemyError as exc:  # Airflow's metadata database, not the campaign database
        log.exception("could not create the DAG run")
        raise ApiError(503, f"could not create the {dag_id} run in Airflow ({type(exc).__name__}), retry later") from exc
    if isinstance(run, str):
        run = TriggeredRun(dag_run_id=run)
    return {
        "dag_id": dag_id,
        "dag_run_id": run.dag_run_id,
        "dag_is_paused": run.dag_is_paused,
        "campaign_id": campaign_id,
        "lead_id": lead_id,
        "conf": conf,
    }


# -- errors -------------------------------------------------------------------------------------------

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


def _validation_payload(errors: list[dict[str, Any]]) -> dict[str, Any]:
    out = []
    for err in errors:
        field = _field_of(err)
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "json_invalid":
            msg = f"invalid JSON ({(err.get('ctx') or {}).get('error', msg)})"
        message = msg if msg.startswith(f"{field}: ") else f"{field}: {msg}"
        out.append({"field": field, "message": message, "type": str(err.get("type", "value_error"))})
    return {"detail": "; ".join(e["message"] for e in out) or "invalid request", "errors": out}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content=_validation_payload(list(exc.errors())))

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        if exc.status_code == 422:
            field = exc.field or "body"
            content: dict[str, Any] = {
                "detail": exc.detail,
                "errors": [{"field": field, "message": exc.detail, "type": "invalid_field"}],
            }
        else:
            content = {"detail": exc.detail}
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse(status_code=exc.status_code, content=content, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400:  # FastAPI could not parse the body (not UTF-8, ...): a body error like the others
            message = f"body: could not be parsed ({exc.detail}); send a UTF-8 JSON object"
            return JSONResponse(
                status_code=422,
                content={"detail": message, "errors": [{"field": "body", "message": message, "type": "body_unparsable"}]},
            )
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
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if sqlstate == "42P01":  # undefined_table: schema not migrated
            return JSONResponse(
                status_code=503,
                content={"detail": "campaign database schema is not up to date: run `campaigns db upgrade`"},
            )
        log.exception("campaign database error")
        return JSONResponse(status_code=500, content={"detail": "internal error"})


# -- factory ------------------------------------------------------------------------------------------


def create_app(
    *,
    prefix: str = API_PREFIX,
    engine: Engine | Callable[[], Engine] | None = None,
    token_validator: TokenValidator | None = None,
    dag_trigger: DagRunTrigger | None = None,
    dag_id: str = DAG_ID,
) -> FastAPI:
    """The admin API. ``prefix=""`` when something else mounts it (the Airflow plugin mounts it at /api/v1)."""
    prefix = prefix.rstrip("/")
    app = FastAPI(
        title="Campaign engine admin API",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_url=f"{prefix}/openapi.json",
        docs_url=f"{prefix}/docs",
        redoc_url=None,
    )
    app.state.engine = _EngineHolder(engine)
    app.state.token_validator = token_validator or airflow_token_validator
    app.state.dag_trigger = dag_trigger or AirflowDagRunTrigger()
    app.state.dag_id = dag_id
    app.include_router(router, prefix=prefix)
    _install_error_handlers(app)
    return app
