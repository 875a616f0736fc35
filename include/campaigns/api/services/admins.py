"""Which Airflow user administers which broker (``broker_admins``)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, text

from include.campaigns.api.services.errors import Forbidden, InvalidField


def broker_ids_for(conn: Connection, username: str) -> frozenset[int]:
    rows = conn.execute(text("SELECT broker_id FROM broker_admins WHERE username = :u"), {"u": username})
    return frozenset(r[0] for r in rows)


def grant(conn: Connection, username: str, broker_ids: Iterable[int]) -> int:
    return sum(conn.execute(
        text("INSERT INTO broker_admins (username, broker_id) VALUES (:u, :b) ON CONFLICT DO NOTHING"),
        {"u": username, "b": b}).rowcount for b in broker_ids)


def revoke(conn: Connection, username: str, broker_ids: Iterable[int] | None = None) -> int:
    if broker_ids is None:
        return conn.execute(text("DELETE FROM broker_admins WHERE username = :u"), {"u": username}).rowcount
    return sum(conn.execute(text("DELETE FROM broker_admins WHERE username = :u AND broker_id = :b"),
                            {"u": username, "b": b}).rowcount for b in broker_ids)


def grants(conn: Connection) -> list[tuple[str, int]]:
    return [tuple(r) for r in conn.execute(
        text("SELECT username, broker_id FROM broker_admins ORDER BY username, broker_id"))]


def resolve_broker(brokers: frozenset[int], requested: int | None, username: str) -> int:
    """The broker a new campaign belongs to: the one asked for, or the caller's only one."""
    if requested is None:
        if len(brokers) == 1:
            return next(iter(brokers))
        raise InvalidField("broker_id", f"required, because user {username!r} administers several brokers "
                                        f"({', '.join(str(b) for b in sorted(brokers))})")
    if requested not in brokers:
        raise Forbidden(f"user {username!r} is not an admin of broker {requested}")
    return requested
