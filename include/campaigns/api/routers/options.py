"""Campaign options (CONTRACT §6): ``PATCH /campaigns/{id}``, ``POST /campaigns/{id}/preview`` and a broker's
frequency caps."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Path

from include.campaigns.api.deps import AdminDep, EngineDep
from include.campaigns.api.routers.params import CampaignId
from include.campaigns.api.routers.responses import AUTH, CONFLICT, INVALID, NOT_FOUND, UNAVAILABLE
from include.campaigns.api.schemas.campaigns import CampaignOut, CampaignUpdate, PreviewOut
from include.campaigns.api.schemas.common import BIGINT_MAX
from include.campaigns.api.schemas.options import FrequencyCapOut, FrequencyCaps
from include.campaigns.api.services import campaign_edits, frequency_caps
from include.campaigns.api.services.preview import preview

router = APIRouter(tags=["campaigns"], responses={**AUTH, **UNAVAILABLE})
BrokerId = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="Broker id")]


@router.patch("/campaigns/{campaign_id}", response_model=CampaignOut, responses={**NOT_FOUND, **CONFLICT, **INVALID},
              summary="Edit name, trigger_config, max_contacts, quiet_hours, goal (ARCHIVED: 409)")
def update_campaign(campaign_id: CampaignId, body: CampaignUpdate, admin: AdminDep, engine: EngineDep) -> dict[str, Any]:
    with engine.begin() as conn:
        return campaign_edits.update_campaign(conn, admin.brokers, campaign_id, body)


@router.post("/campaigns/{campaign_id}/preview", response_model=PreviewOut, responses={**NOT_FOUND, **INVALID},
             summary="How many leads the trigger would enrol now, and the first message for a few (writes nothing)")
def preview_campaign(campaign_id: CampaignId, admin: AdminDep, engine: EngineDep) -> dict[str, Any]:
    with engine.begin() as conn:
        return preview(conn, admin.brokers, campaign_id, datetime.now(timezone.utc))


@router.get("/brokers/{broker_id}/frequency-caps", response_model=list[FrequencyCapOut], responses={**INVALID},
            summary="The broker's frequency caps, across all its campaigns")
def get_caps(broker_id: BrokerId, admin: AdminDep, engine: EngineDep) -> list[dict[str, Any]]:
    with engine.begin() as conn:
        return frequency_caps.caps_of(conn, admin.brokers, broker_id, admin.username)


@router.put("/brokers/{broker_id}/frequency-caps", response_model=list[FrequencyCapOut], responses={**INVALID},
            summary="Replace the broker's frequency caps")
def put_caps(broker_id: BrokerId, body: FrequencyCaps, admin: AdminDep, engine: EngineDep) -> list[dict[str, Any]]:
    with engine.begin() as conn:
        return frequency_caps.replace_caps(conn, admin.brokers, broker_id, admin.username, body.caps)
