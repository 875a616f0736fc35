"""Path parameters shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from include.campaigns.api.schemas.common import BIGINT_MAX, INT_MAX

CampaignId = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="Campaign id")]
LeadId = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="Lead id")]
StepNumber = Annotated[int, Path(ge=1, le=INT_MAX, description="Step number within the campaign")]
