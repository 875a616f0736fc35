"""What the analytics endpoints answer (the Campaigns page and its CSV read the same figures)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class BrokerOut(BaseModel):
    id: int
    name: str | None
    timezone: str


class CampaignFigures(BaseModel):
    id: int
    broker_id: int
    broker_name: str | None
    timezone: str
    name: str
    channel: str
    trigger_type: str
    status: str
    sent: int
    failed: int
    skipped: int
    enrolled: int
    goal_reached: int
    replied: int
    conversion_rate: Decimal | None
    reply_rate: Decimal | None


class Period(BaseModel):
    """The days shown, in each broker's time zone; null = open at that end."""

    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    from_: date | None = Field(default=None, alias="from")
    to: date | None = None


class CampaignList(BaseModel):
    period: Period
    brokers: list[BrokerOut]
    campaigns: list[CampaignFigures]


class DayOut(BaseModel):
    day: date
    sent: int
    failed: int
    skipped: int


class StepOut(BaseModel):
    step_number: int
    action: str
    delay_hours: Decimal
    sent: int
    failed: int
    skipped: int


class ReasonOut(BaseModel):
    step_number: int | None
    action: str | None
    status: str
    reason: str | None
    count: int


class DeliveryOut(BaseModel):
    channel: str
    status: str
    messages: int


class CampaignAnalytics(BaseModel):
    period: Period
    campaign: CampaignFigures
    daily: list[DayOut]
    funnel: list[StepOut]
    failure_reasons: list[ReasonOut]
    deliveries: list[DeliveryOut]
