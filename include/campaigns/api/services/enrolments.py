"""Enrolments: list them (e.g. those an engine error set aside) and let a set-aside one run again."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from include.campaigns.api.services.campaigns import get_campaign, row
from include.campaigns.api.services.errors import Conflict, NotFound

ENROLMENT_COLUMNS = ("campaign_id, lead_id, broker_id, status, enrolled_at, last_step_number, last_step_at, "
                     "contacts_made, finished_at, error, error_step, error_at, error_run_id")


def list_enrolments(conn: Connection, brokers: frozenset[int], *, status: str | None, campaign_id: int | None,
                    limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    params = {"brokers": sorted(brokers), "status": status, "campaign_id": campaign_id, "limit": limit,
              "offset": offset}
    where = ("broker_id = ANY(:brokers) AND (CAST(:status AS text) IS NULL OR status = :status) "
             "AND (CAST(:campaign_id AS bigint) IS NULL OR campaign_id = :campaign_id)")
    total = conn.execute(text(f"SELECT count(*) FROM campaign_enrolments WHERE {where}"), params).scalar_one()
    rows = conn.execute(text(f"SELECT {ENROLMENT_COLUMNS} FROM campaign_enrolments WHERE {where} "
                             "ORDER BY campaign_id, lead_id LIMIT :limit OFFSET :offset"), params)
    return [row(r) for r in rows], total


def retry(conn: Connection, brokers: frozenset[int], campaign_id: int, lead_id: int) -> dict[str, Any]:
    """ERROR -> ACTIVE: the failed step is due again and runs in the next run (once: it was never logged)."""
    get_campaign(conn, brokers, campaign_id)
    current = conn.execute(text("SELECT status FROM campaign_enrolments WHERE campaign_id = :c AND lead_id = :l "
                                "FOR UPDATE"), {"c": campaign_id, "l": lead_id}).scalar()
    if current is None:
        raise NotFound(f"lead {lead_id} is not enrolled in campaign {campaign_id}")
    if current != "ERROR":
        raise Conflict(f"the enrolment of lead {lead_id} in campaign {campaign_id} is {current}: only an enrolment "
                       "set aside by an engine error (ERROR) can be retried")
    return row(conn.execute(text(
        "UPDATE campaign_enrolments SET status = 'ACTIVE', error = NULL, error_step = NULL, error_at = NULL, "
        f"error_run_id = NULL WHERE campaign_id = :c AND lead_id = :l RETURNING {ENROLMENT_COLUMNS}"),
        {"c": campaign_id, "l": lead_id}).one())
