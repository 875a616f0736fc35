"""Apply-to-lead: the checks the API makes before it starts a ``campaign_executor`` run."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from include.campaigns.api.services.campaigns import get_campaign
from include.campaigns.api.services.errors import Conflict, NotFound


def check_apply(conn: Connection, brokers: frozenset[int], campaign_id: int, lead_id: int) -> dict[str, Any]:
    campaign = get_campaign(conn, brokers, campaign_id)
    lead = conn.execute(text("SELECT id FROM leads WHERE id = :id AND broker_id = :b"),
                        {"id": lead_id, "b": campaign["broker_id"]}).one_or_none()
    if lead is None:
        raise NotFound(f"lead {lead_id} not found for broker {campaign['broker_id']}")
    if campaign["status"] != "ACTIVE":
        raise Conflict(f"campaign {campaign_id} is {campaign['status']}: only ACTIVE campaigns can be applied to a lead")
    return campaign
