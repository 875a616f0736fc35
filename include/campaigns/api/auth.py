"""Who is calling: Airflow's own JWT, Airflow's own roles.

The admin API accepts exactly the tokens the Airflow API server issues (``POST /auth/token``), sent as
``Authorization: Bearer <token>`` (or the ``_token`` cookie the Airflow UI sets after login). They are
validated by the configured Airflow auth manager (``get_user_from_token``: signature, audience, expiry,
revocation), so the API follows whatever auth manager and JWT settings the Airflow deployment uses.

A validator is any callable ``token -> Principal`` (sync or async) that raises ``InvalidToken``; tests of
the app alone inject a fake one, the plugin uses :func:`airflow_token_validator`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Union


@dataclass(frozen=True)
class Principal:
    username: str
    is_admin: bool


class InvalidToken(Exception):
    """The token is missing, malformed, badly signed, expired or revoked (HTTP 401)."""


TokenValidator = Callable[[str], Union[Principal, Awaitable[Principal]]]


def _auth_manager() -> Any:
    """The auth manager the API server initialised; outside the server, a fresh instance of the configured one."""
    from airflow.api_fastapi.app import create_auth_manager, get_auth_manager

    try:
        return get_auth_manager()
    except RuntimeError:
        return create_auth_manager()


def is_airflow_admin(user: Any) -> bool:
    """Whether an Airflow user has the admin role.

    SimpleAuthManager users carry one ``role`` (``ADMIN`` is the admin); FAB users carry ``roles``
    (the ``Admin`` role). Any other kind of user is not treated as an admin.
    """
    roles = getattr(user, "roles", None)
    if roles:
        return any(str(getattr(r, "name", r)).lower() == "admin" for r in roles)
    role = getattr(user, "role", None)
    return isinstance(role, str) and role.upper() == "ADMIN"


async def airflow_token_validator(token: str) -> Principal:
    """Validate an Airflow JWT with the configured Airflow auth manager."""
    from jwt import ExpiredSignatureError, InvalidTokenError

    auth_manager = _auth_manager()
    try:
        user = await auth_manager.get_user_from_token(token)
    except ExpiredSignatureError:
        raise InvalidToken("token expired: get a new one from POST /auth/token") from None
    except InvalidTokenError:
        raise InvalidToken("invalid token: get one from POST /auth/token") from None
    return Principal(username=user.get_name(), is_admin=is_airflow_admin(user))
