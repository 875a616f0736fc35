"""Analysts' logins: one PostgreSQL LOGIN role per person, member of the read-only group ``campaigns_analyst``.

The group (migration 0013) holds the privileges; a person's role only logs in, so revoking one person is
dropping their role, and nobody shares a password. Roles are cluster-wide: a name that already belongs to a
role outside the group (``postgres``, an application user) is refused, never altered.
"""

from __future__ import annotations

import re
import secrets

from psycopg import sql
from sqlalchemy import Engine, text

GROUP = "campaigns_analyst"
NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class AnalystError(Exception):
    """A grant or revoke that cannot be done as asked (a bad name, a role that is not an analyst's)."""


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise AnalystError(f"analyst name {name!r}: use lower-case letters, digits and _ (at most 63, not a digit "
                           "first), e.g. ana_lopez")
    if name == GROUP:
        raise AnalystError(f"{GROUP} is the group role; name the person's own login")
    return name


def _role(conn, name: str) -> bool | None:
    """Whether an existing role is a direct member of the group (superusers count as members of every role
    for pg_has_role, so membership is read from pg_auth_members), or None when there is no such role."""
    r = conn.execute(text(
        "SELECT EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
        "               WHERE m.member = r.oid AND g.rolname = :group) AND NOT r.rolsuper "
        "FROM pg_roles r WHERE r.rolname = :name"), {"name": name, "group": GROUP}).one_or_none()
    return None if r is None else bool(r[0])


def _require_group(conn) -> None:
    if not conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :g"), {"g": GROUP}).first():
        raise AnalystError(f"role {GROUP} does not exist: run `campaigns db upgrade` as a user who may create roles")


def _run(conn, statement: sql.Composed) -> None:
    """A statement with identifiers and literals quoted by psycopg (DDL takes no bind parameters)."""
    with conn.connection.driver_connection.cursor() as cur:
        cur.execute(statement)


def grant(engine: Engine, name: str, password: str | None = None) -> tuple[str, bool]:
    """Create (or give a new password to) the analyst's login; return (the password, whether it is new)."""
    check_name(name)
    password = password or secrets.token_urlsafe(18)
    with engine.begin() as conn:
        _require_group(conn)
        existing = _role(conn, name)
        if existing is None:
            _run(conn, sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
                sql.Identifier(name), sql.Literal(password), sql.Identifier(GROUP)))
            return password, True
        if not existing:
            raise AnalystError(f"role {name!r} exists and is not an analyst (not a member of {GROUP}): "
                               "choose another name")
        _run(conn, sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))
        return password, False


def revoke(engine: Engine, name: str) -> bool:
    """Drop the analyst's login (False: there was none). Only members of the group are ever dropped."""
    check_name(name)
    with engine.begin() as conn:
        existing = _role(conn, name)
        if existing is None:
            return False
        if not existing:
            raise AnalystError(f"role {name!r} is not an analyst (not a member of {GROUP}): left alone")
        _run(conn, sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
        return True


def analysts(engine: Engine) -> list[str]:
    """The logins that are members of the group."""
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text(
            "SELECT r.rolname FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid "
            "JOIN pg_roles g ON g.oid = m.roleid WHERE g.rolname = :g ORDER BY 1"), {"g": GROUP})]
