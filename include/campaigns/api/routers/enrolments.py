"""``/enrolments``: who is enrolled where, and the retry of an enrolment an engine error set aside."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from include.campaigns.api.deps import AdminDep, EngineDep
from include.campaigns.api.routers.params import CampaignId, LeadId
from include.campaigns.api.routers.responses import AUTH, CONFLICT, INVALID, NOT_FOUND, UNAVAILABLE
from include.campaigns.api.schemas.common import BIGINT_MAX, INT_MAX
from include.campaigns.api.schemas.enrolments import EnrolmentOut, EnrolmentPage, EnrolmentStatus
from include.campaigns.api.services import enrolments as service

router = APIRouter(tags=["enrolments"], responses={**AUTH, **UNAVAILABLE})


@router.get("/enrolments", response_model=EnrolmentPage, responses={**INVALID},
            summary="List enrolments of the caller's brokers (status=ERROR: those an engine error set aside)")
def list_enrolments(
    admin: AdminDep, engine: EngineDep,
    status_: Annotated[EnrolmentStatus | None, Query(alias="status")] = None,
    campaign_id: Annotated[int | None, Query(ge=1, le=BIGINT_MAX)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
) -> dict[str, Any]:
    with engine.begin() as conn:
        items, total = service.list_enrolments(conn, admin.brokers, status=status_, campaign_id=campaign_id,
                                               limit=limit, offset=offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.post("/campaigns/{campaign_id}/enrolments/{lead_id}/retry", response_model=EnrolmentOut,
             responses={**NOT_FOUND, **CONFLICT, **INVALID},
             summary="Let an enrolment an engine error set aside run again (its failed step runs in the next run)")
def retry_enrolment(campaign_id: CampaignId, lead_id: LeadId, admin: AdminDep, engine: EngineDep) -> dict[str, Any]:
    with engine.begin() as conn:
        return service.retry(conn, admin.brokers, campaign_id, lead_id)
