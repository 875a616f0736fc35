"""``/analytics``: the figures of the Campaigns page, as JSON and as CSV (read-only, for any Airflow user
granted brokers in ``broker_admins``; the page calls them with the Airflow UI's own cookie)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from include.campaigns.api.deps import EngineDep, ReaderDep
from include.campaigns.api.routers.params import CampaignId
from include.campaigns.api.routers.responses import AUTH, INVALID, NOT_FOUND, UNAVAILABLE
from include.campaigns.api.schemas.analytics import CampaignAnalytics, CampaignFigures, CampaignList
from include.campaigns.api.schemas.common import BIGINT_MAX
from include.campaigns.api.services import analytics as service

router = APIRouter(prefix="/analytics", tags=["analytics"], responses={**AUTH, **UNAVAILABLE, **INVALID})

From = Annotated[date | None, Query(alias="from", description="First day shown (YYYY-MM-DD, broker's time zone)")]
To = Annotated[date | None, Query(description="Last day shown, included (YYYY-MM-DD, broker's time zone)")]
BrokerId = Annotated[int | None, Query(ge=1, le=BIGINT_MAX, description="Only this broker (one of the caller's)")]
Part = Literal["daily", "funnel", "failure_reasons", "deliveries"]


@router.get("/campaigns", response_model=CampaignList, summary="The caller's campaigns with their headline figures")
def list_campaigns(reader: ReaderDep, engine: EngineDep, from_: From = None, to: To = None,
                   broker_id: BrokerId = None) -> dict[str, Any]:
    period = service.Period(from_, to)
    brokers = service.scope(reader.brokers, broker_id, reader.username)
    with engine.connect() as conn:
        service.read_only(conn)
        return {"period": {"from_": from_, "to": to}, "brokers": service.brokers_of(conn, sorted(reader.brokers)),
                "campaigns": service.campaigns(conn, brokers, period)}


@router.get("/campaigns.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}},
            summary="The campaign list as shown, as CSV")
def list_campaigns_csv(reader: ReaderDep, engine: EngineDep, from_: From = None, to: To = None,
                       broker_id: BrokerId = None) -> Response:
    rows = list_campaigns(reader, engine, from_, to, broker_id)["campaigns"]
    return _csv(rows, f"campaigns{_suffix(from_, to)}.csv", empty=tuple(CampaignFigures.model_fields))


@router.get("/campaigns/{campaign_id}", response_model=CampaignAnalytics, responses={**NOT_FOUND},
            summary="One campaign: figures per day, step funnel, failure reasons, delivery statuses")
def campaign_analytics(campaign_id: CampaignId, reader: ReaderDep, engine: EngineDep, from_: From = None,
                       to: To = None) -> dict[str, Any]:
    period = service.Period(from_, to)
    with engine.connect() as conn:
        service.read_only(conn)
        return {"period": {"from_": from_, "to": to}, **service.detail(conn, reader.brokers, campaign_id, period)}


@router.get("/campaigns/{campaign_id}/{part}.csv", response_class=Response, responses={**NOT_FOUND,
            200: {"content": {"text/csv": {}}}}, summary="One table or chart of a campaign, as shown, as CSV")
def campaign_part_csv(campaign_id: CampaignId, part: Part, reader: ReaderDep, engine: EngineDep,
                      from_: From = None, to: To = None) -> Response:
    period = service.Period(from_, to)
    with engine.connect() as conn:
        service.read_only(conn)
        head = service.campaign(conn, reader.brokers, campaign_id, period)
        rows = service.PARTS[part](conn, head, period)
    return _csv(rows, f"campaign-{campaign_id}-{part}{_suffix(from_, to)}.csv", empty=_COLUMNS[part])


_COLUMNS = {"daily": ("day", "sent", "failed", "skipped"),
            "funnel": ("step_number", "action", "delay_hours", "sent", "failed", "skipped"),
            "failure_reasons": ("step_number", "action", "status", "reason", "count"),
            "deliveries": ("channel", "status", "messages")}


def _suffix(first: date | None, last: date | None) -> str:
    return f"_{first or 'start'}_{last or 'now'}" if first or last else ""


def _csv(rows: Sequence[dict[str, Any]], filename: str, empty: Sequence[str] = ()) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = list(rows[0]) if rows else list(empty)
    writer.writerow(columns)
    writer.writerows([row[c] for c in columns] for row in rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
