"""A broker's frequency caps (CONTRACT §6): read them, replace them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from include.campaigns.api.services.errors import Forbidden

_COLUMNS = "broker_id, channel, max_contacts, per_hours"


def _check(brokers: frozenset[int], broker_id: int, username: str) -> None:
    if broker_id not in brokers:
        raise Forbidden(f"user {username!r} is not an admin of broker {broker_id}")


def caps_of(conn: Connection, brokers: frozenset[int], broker_id: int, username: str) -> list[dict[str, Any]]:
    _check(brokers, broker_id, username)
    rows = conn.execute(text(f"SELECT {_COLUMNS} FROM frequency_caps WHERE broker_id = :b ORDER BY channel NULLS FIRST"),
                        {"b": broker_id}).mappings()
    return [dict(r) for r in rows]


def replace_caps(conn: Connection, brokers: frozenset[int], broker_id: int, username: str,
                 caps: list[Any]) -> list[dict[str, Any]]:
    _check(brokers, broker_id, username)
    conn.execute(text("DELETE FROM frequency_caps WHERE broker_id = :b"), {"b": broker_id})
    if caps:
        conn.execute(text("INSERT INTO frequency_caps (broker_id, channel, max_contacts, per_hours) "
                          "VALUES (:b, :channel, :max_contacts, :per_hours)"),
                     [{"b": broker_id, **cap.model_dump()} for cap in caps])
    return caps_of(conn, brokers, broker_id, username)
