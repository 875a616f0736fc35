"""What every route depends on: the campaign database and the authenticated caller.

The caller must send an Airflow JWT (``Authorization: Bearer <token>``, or the ``_token`` cookie the Airflow UI
sets after login), be an Airflow admin (the analytics endpoints: any Airflow user), and administer at least one
broker (``broker_admins``).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from include.campaigns.api.auth import InvalidToken, Principal, TokenValidator
from include.campaigns.api.docs import GRANT_HINT
from include.campaigns.api.services import admins

COOKIE_NAME_JWT_TOKEN = "_token"  # the cookie the Airflow UI keeps its JWT in


class HttpError(Exception):
    """An HTTP-level refusal (authentication, authorisation) raised by a dependency."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code, self.detail = status_code, detail


@dataclass(frozen=True)
class Admin:
    """The authenticated caller: an Airflow admin and the brokers they administer."""

    username: str
    brokers: frozenset[int]


class EngineHolder:
    """The campaign database engine, resolved on the first request (creating the app does no I/O)."""

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
                        from include.campaigns.infra.database import get_engine

                        self._engine = get_engine()
        return self._engine


bearer = HTTPBearer(
    auto_error=False, scheme_name="AirflowJWT",
    description="An Airflow JWT: POST /auth/token on the Airflow API server with an admin's username and password.")


async def _caller(request: Request, credentials: HTTPAuthorizationCredentials | None, *,
                  admins_only: bool) -> Admin:
    token = credentials.credentials if credentials else request.cookies.get(COOKIE_NAME_JWT_TOKEN)
    if not token:
        raise HttpError(status.HTTP_401_UNAUTHORIZED,
                        "not authenticated: send 'Authorization: Bearer <token>' (token from POST /auth/token)")
    validator: TokenValidator = request.app.state.token_validator
    try:
        principal = validator(token)
        if inspect.isawaitable(principal):
            principal = await principal
    except InvalidToken as exc:
        raise HttpError(status.HTTP_401_UNAUTHORIZED, str(exc) or "invalid token") from None
    if not isinstance(principal, Principal):
        raise TypeError(f"the token validator returned {type(principal).__name__}, not a Principal")
    if admins_only and not principal.is_admin:
        raise HttpError(status.HTTP_403_FORBIDDEN, f"user {principal.username!r} is not an Airflow admin")

    def lookup() -> frozenset[int]:
        with request.app.state.engine.get().connect() as conn:
            return admins.broker_ids_for(conn, principal.username)

    brokers = await run_in_threadpool(lookup)
    if not brokers:
        raise HttpError(status.HTTP_403_FORBIDDEN,
                        f"user {principal.username!r} administers no broker (grant one with: {GRANT_HINT})")
    return Admin(principal.username, brokers)


async def current_admin(request: Request,
                        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Admin:
    """An Airflow admin, with the brokers they administer (every write and read of the admin API)."""
    return await _caller(request, credentials, admins_only=True)


async def current_reader(request: Request,
                         credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Admin:
    """Any logged-in Airflow user (any role), with the brokers granted to them: the analytics read-only
    endpoints, which the Campaigns page of the Airflow UI calls with the UI's own cookie."""
    return await _caller(request, credentials, admins_only=False)


AdminDep = Annotated[Admin, Depends(current_admin)]
ReaderDep = Annotated[Admin, Depends(current_reader)]


def engine_of(request: Request) -> Engine:
    return request.app.state.engine.get()


EngineDep = Annotated[Engine, Depends(engine_of)]
