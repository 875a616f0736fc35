"""``/campaigns/{id}/steps``: add, replace, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from include.campaigns.api.deps import AdminDep, EngineDep
from include.campaigns.api.routers.params import CampaignId, StepNumber
from include.campaigns.api.routers.responses import AUTH, CONFLICT, INVALID, NOT_FOUND, UNAVAILABLE
from include.campaigns.api.schemas.steps import StepBody, StepCreate, StepOut
from include.campaigns.api.services import steps as service

router = APIRouter(tags=["campaigns"], responses={**AUTH, **UNAVAILABLE, **NOT_FOUND, **CONFLICT, **INVALID})


@router.post("/campaigns/{campaign_id}/steps", status_code=status.HTTP_201_CREATED, response_model=StepOut,
             summary="Add a step (ACTIVE/PAUSED campaigns: append only)")
def add_step(campaign_id: CampaignId, body: StepCreate, admin: AdminDep, engine: EngineDep) -> dict[str, Any]:
    with engine.begin() as conn:
        return service.add_step(conn, admin.brokers, campaign_id, body)


@router.put("/campaigns/{campaign_id}/steps/{step_number}", response_model=StepOut,
            summary="Replace a step (DRAFT campaigns only)")
def replace_step(campaign_id: CampaignId, step_number: StepNumber, body: StepBody, admin: AdminDep,
                 engine: EngineDep) -> dict[str, Any]:
    with engine.begin() as conn:
        return service.replace_step(conn, admin.brokers, campaign_id, step_number, body)


@router.delete("/campaigns/{campaign_id}/steps/{step_number}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response, summary="Delete a step (DRAFT campaigns only)")
def delete_step(campaign_id: CampaignId, step_number: StepNumber, admin: AdminDep, engine: EngineDep) -> Response:
    with engine.begin() as conn:
        service.delete_step(conn, admin.brokers, campaign_id, step_number)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
