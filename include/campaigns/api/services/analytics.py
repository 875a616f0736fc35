"""What the Campaigns page shows: headline figures per campaign, and per campaign its days, step funnel,
failure reasons and delivery statuses, over a period of days in the broker's time zone.

Every figure is counted from ``campaign_logs`` (``campaign_enrolments``, ``lead_replies`` and
``message_deliveries`` for conversions and deliveries) by the SQL in ``sql/analytics_*.sql``, with the same
day arithmetic as the views of migration 0013, so the page, its CSV and an analyst's query agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection

from include.campaigns.api.services.errors import Forbidden, InvalidField, not_found
from include.campaigns.infra.database import SqlFolder

SQL = SqlFolder(__file__)
MAX_DAYS = 3660  # a period longer than ten years is a typo, not a question
EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)  # days a campaign log can have


@dataclass(frozen=True)
class Period:
    """Days [first, last] in each broker's time zone; None leaves that end open."""

    first: date | None = None
    last: date | None = None

    def __post_init__(self) -> None:
        for field, day in (("from", self.first), ("to", self.last)):
            if day is not None and not EARLIEST <= day <= LATEST:
                raise InvalidField(field, f"{day} is outside {EARLIEST} .. {LATEST}")
        if self.first and self.last:
            if self.first > self.last:
                raise InvalidField("to", f"{self.last} is before from={self.first}: the period is reversed")
            if (self.last - self.first).days >= MAX_DAYS:
                raise InvalidField("to", f"the period is longer than {MAX_DAYS} days")

    def params(self) -> dict[str, date | None]:
        return {"from": self.first, "to": self.last}


def read_only(conn: Connection) -> None:
    """Start the request's transaction: READ ONLY, with plans made for the period asked (psycopg prepares a
    statement after a few uses, and a generic plan cannot skip the log scan an all-time list does not need)."""
    conn.exec_driver_sql("SET TRANSACTION READ ONLY")
    conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in result]


def scope(brokers: frozenset[int], broker_id: int | None, username: str) -> list[int]:
    """The brokers to show: the caller's, or the one asked for when it is theirs."""
    if broker_id is None:
        return sorted(brokers)
    if broker_id not in brokers:
        raise Forbidden(f"user {username!r} is not an admin of broker {broker_id}")
    return [broker_id]


def brokers_of(conn: Connection, brokers: list[int]) -> list[dict[str, Any]]:
    return _rows(conn.execute(SQL("analytics_brokers"), {"brokers": brokers}))


def campaigns(conn: Connection, brokers: list[int], period: Period) -> list[dict[str, Any]]:
    """The campaigns of ``brokers`` with their headline figures over the period."""
    return _rows(conn.execute(SQL("analytics_campaigns"), {"brokers": brokers, "campaign": None, **period.params()}))


def campaign(conn: Connection, brokers: frozenset[int], campaign_id: int, period: Period) -> dict[str, Any]:
    """One campaign of the caller's brokers with its headline figures (404 for anyone else's)."""
    found = _rows(conn.execute(SQL("analytics_campaigns"),
                               {"brokers": sorted(brokers), "campaign": campaign_id, **period.params()}))
    if not found:
        raise not_found("campaign", campaign_id)
    return found[0]


def _of(conn: Connection, name: str, head: dict[str, Any], period: Period) -> list[dict[str, Any]]:
    return _rows(conn.execute(SQL(name), {"campaign": head["id"], "tz": head["timezone"], **period.params()}))


def daily(conn: Connection, head: dict[str, Any], period: Period) -> list[dict[str, Any]]:
    return _of(conn, "analytics_daily", head, period)


def funnel(conn: Connection, head: dict[str, Any], period: Period) -> list[dict[str, Any]]:
    return _of(conn, "analytics_funnel", head, period)


def failure_reasons(conn: Connection, head: dict[str, Any], period: Period) -> list[dict[str, Any]]:
    return _of(conn, "analytics_failure_reasons", head, period)


def deliveries(conn: Connection, head: dict[str, Any], period: Period) -> list[dict[str, Any]]:
    return _of(conn, "analytics_deliveries", head, period)


# what the detail of one campaign is made of, in the order the page shows it
PARTS = {"daily": daily, "funnel": funnel, "failure_reasons": failure_reasons, "deliveries": deliveries}


def detail(conn: Connection, brokers: frozenset[int], campaign_id: int, period: Period) -> dict[str, Any]:
    head = campaign(conn, brokers, campaign_id, period)
    return {"campaign": head, **{name: part(conn, head, period) for name, part in PARTS.items()}}
