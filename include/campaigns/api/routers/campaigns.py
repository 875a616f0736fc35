"""``/campaigns``: create, list, read, change status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from include.campaigns.api.deps import AdminDep, EngineDep
from include.campaigns.api.routers.params import CampaignId
from include.campaigns.api.routers.responses import AUTH, CONFLICT, INVALID, NOT_FOUND, UNAVAILABLE
from include.campaigns.api.schemas.campaigns import (
    CampaignCreate, CampaignDetail, CampaignOut, CampaignPage, CampaignStatus, StatusChange,
)
from include.campaigns.api.schemas.common import BIGINT_MAX, INT_MAX
from include.campaigns.api.services import admins
from include.campaigns.api.services import campaigns as service

router = APIRouter(tags=["campaigns"], responses={**AUTH, **UNAVAILABLE})


@router.post("/campaigns", status_code=status.HTTP_201_CREATED, response_model=CampaignOut, responses={**INVALID},
             summary="Create a campaign (status DRAFT)")
def create_campaign(body: CampaignCreate, admin: AdminDep, engine: EngineDep, request: Request,
                    response: Response) -> dict[str, Any]:
    with engine.begin() as conn:
        broker_id = admins.resolve_broker(admin.brokers, body.broker_id, admin.username)
        campaign = service.create_campaign(conn, broker_id, body)
    response.headers["Location"] = str(request.url_for("get_campaign", campaign_id=campaign["id"]))
    return campaign


@router.get("/campaigns", response_model=CampaignPage, responses={**INVALID}, summary="List campaigns, page by page")
def list_campaigns(
    admin: AdminDep, engine: EngineDep,
    status_: Annotated[CampaignStatus | None, Query(alias="status", description="Only campaigns in this status")] = None,
    broker_id: Annotated[int | None, Query(ge=1, le=BIGINT_MAX, description="Only this broker's campaigns")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
) -> dict[str, Any]:
    with engine.begin() as conn:
        items, total = service.list_campaigns(conn, admin.brokers, status=status_, broker_id=broker_id, limit=limit,
                                              offset=offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/campaigns/{campaign_id}", response_model=CampaignDetail, responses={**NOT_FOUND, **INVALID},
            summary="A campaign with its steps, stats and enrolment counts")
def get_campaign(campaign_id: CampaignId, admin: AdminDep, engine: EngineDep) -> dict[str, Any]:
    with engine.begin() as conn:
        return service.campaign_detail(conn, service.get_campaign(conn, admin.brokers, campaign_id))


@router.post("/campaigns/{campaign_id}/status", response_model=CampaignOut,
             responses={**NOT_FOUND, **CONFLICT, **INVALID},
             summary="Change the status: DRAFT->ACTIVE, ACTIVE<->PAUSED, any non-archived->ARCHIVED")
def change_status(campaign_id: CampaignId, body: StatusChange, admin: AdminDep, engine: EngineDep) -> dict[str, Any]:
    with engine.begin() as conn:
        return service.change_status(conn, admin.brokers, campaign_id, body.status)
