"""Enrolment bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from include.campaigns.api.schemas.common import ResponseBody
from include.campaigns.domain.vocabulary import ENROLMENT_STATUSES

EnrolmentStatus = Literal[ENROLMENT_STATUSES]


class EnrolmentOut(ResponseBody):
    campaign_id: int
    lead_id: int
    broker_id: int
    status: EnrolmentStatus = Field(description="ERROR: an engine error set it aside; nothing was logged for the "
                                                "failed step, which runs again once the enrolment is retried.")
    enrolled_at: datetime
    last_step_number: int = Field(description="The last step executed (0 = none yet).")
    last_step_at: datetime | None
    contacts_made: int
    finished_at: datetime | None
    error: str | None = Field(description="The engine error (status ERROR).")
    error_step: int | None = Field(description="The step that hit it.")
    error_at: datetime | None
    error_run_id: str | None = Field(description="The campaign_executor run whose task reported it.")


class EnrolmentPage(BaseModel):
    items: list[EnrolmentOut]
    total: int
    limit: int
    offset: int
