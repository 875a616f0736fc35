"""The campaign options of CONTRACT §6 as request bodies: quiet hours, goal, frequency caps."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from include.campaigns.api.schemas.common import INT_MAX, RequestBody, ResponseBody, check_json_safe, field_error
from include.campaigns.domain.vocabulary import DELIVERY_CHANNELS

HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
DeliveryChannel = Literal[DELIVERY_CHANNELS]


class QuietHours(RequestBody):
    """Contact steps due between ``start`` and ``end`` (the lead's local time) wait for the window's end."""

    start: str = Field(pattern=HHMM, description='"HH:MM", 24-hour, local time of the lead')
    end: str = Field(pattern=HHMM, description='"HH:MM"; before start = the window crosses midnight')

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise field_error("quiet_hours.end", "must differ from start (an empty or 24-hour window is not a window)")
        return self


class Goal(RequestBody):
    """When a run finds an enrolled lead in one of these stages, its enrolment ends (goal_reached)."""

    stages: list[str] = Field(min_length=1, max_length=50, description="Stages of the broker's pipeline")

    @field_validator("stages")
    @classmethod
    def _stages(cls, v: list[str]) -> list[str]:
        check_json_safe(v, "goal.stages")
        for i, stage in enumerate(v):
            if not stage.strip():
                raise field_error(f"goal.stages[{i}]", "must not be blank")
        if len(set(v)) != len(v):
            raise field_error("goal.stages", "must not repeat a stage")
        return v


class FrequencyCapIn(RequestBody):
    channel: DeliveryChannel | None = Field(default=None, description="null = every channel (make_call is voice)")
    max_contacts: int = Field(ge=0, le=INT_MAX, description="SENT contacts a lead may get within per_hours")
    per_hours: int = Field(ge=1, le=24 * 366, description="The window, in hours before the run time")


class FrequencyCapOut(ResponseBody):
    broker_id: int
    channel: DeliveryChannel | None
    max_contacts: int
    per_hours: int


class FrequencyCaps(RequestBody):
    """The broker's caps, replacing the ones it had; one per channel (null = every channel)."""

    caps: list[FrequencyCapIn] = Field(max_length=5)

    @model_validator(mode="after")
    def _one_per_channel(self) -> FrequencyCaps:
        channels = [c.channel for c in self.caps]
        if len(set(channels)) != len(channels):
            raise field_error("caps", "at most one cap per channel (and one for every channel)")
        return self
