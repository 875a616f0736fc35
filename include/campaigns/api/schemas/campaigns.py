"""Campaign bodies. ``trigger_config`` is validated by the model of its trigger type (``triggers/``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator

from include.campaigns import triggers
from include.campaigns.api.schemas.common import (
    BIGINT_MAX, INT_MAX, RequestBody, ResponseBody, check_json_safe, field_error, nested_error,
)
from include.campaigns.api.schemas.options import Goal, QuietHours
from include.campaigns.api.schemas.steps import StepOut
from include.campaigns.domain.vocabulary import CAMPAIGN_STATUSES, CHANNELS

MAX_NAME_LENGTH = 200
Channel = Literal[CHANNELS]
TriggerType = Literal[triggers.TRIGGER_TYPES]
CampaignStatus = Literal[CAMPAIGN_STATUSES]


def clean_name(v: str) -> str:
    check_json_safe(v, "name")
    if not v.strip():
        raise field_error("name", "must not be blank")
    return v.strip()


def validated_trigger_config(trigger_type: str, config: dict[str, Any]) -> dict[str, Any]:
    check_json_safe(config, "trigger_config")
    trigger = triggers.get(trigger_type)
    try:
        return trigger.config_model.model_validate(config).model_dump()
    except ValidationError as exc:
        raise nested_error(exc, "trigger_config", f"trigger_type {trigger_type} expects {trigger.config_shape}") from None


def _trigger_config_schema() -> dict:
    schemas = []
    for t in triggers.REGISTRY.values():
        s = t.config_model.model_json_schema()
        s.pop("title", None)
        s.pop("description", None)
        schemas.append(s)
    return {"anyOf": schemas}


TRIGGER_CONFIG_DESCRIPTION = "Depends on trigger_type: " + "; ".join(
    f"{name} {t.config_shape} ({t.summary.rstrip('.')})" for name, t in triggers.REGISTRY.items()) + "."


class CampaignCreate(RequestBody):
    """A new campaign; it starts in DRAFT."""

    broker_id: int | None = Field(
        default=None, ge=1, le=BIGINT_MAX,
        description="The broker that owns the campaign. May be omitted when the caller administers exactly "
                    "one broker; must be one of the caller's brokers.")
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    channel: Channel
    trigger_type: TriggerType
    trigger_config: dict[str, Any] = Field(default_factory=dict, validate_default=True,
                                           description=TRIGGER_CONFIG_DESCRIPTION,
                                           json_schema_extra=_trigger_config_schema())
    max_contacts: int | None = Field(
        default=None, ge=0, le=INT_MAX,
        description="How many send_message + make_call steps one lead may receive; null = unlimited.")
    quiet_hours: QuietHours | None = Field(default=None, description="null = off")
    goal: Goal | None = Field(default=None, description="null = off")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return clean_name(v)

    @field_validator("trigger_config")
    @classmethod
    def _trigger_config(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        trigger_type = info.data.get("trigger_type")
        if trigger_type is None:  # trigger_type itself is invalid: that error is reported
            return v
        return validated_trigger_config(trigger_type, v)


class CampaignUpdate(RequestBody):
    """Fields to change (absent = unchanged; ``null`` turns an option off). Live campaigns: see the README."""

    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    trigger_config: dict[str, Any] | None = Field(default=None, description=TRIGGER_CONFIG_DESCRIPTION)
    max_contacts: int | None = Field(default=None, ge=0, le=INT_MAX, description="null = unlimited")
    quiet_hours: QuietHours | None = None
    goal: Goal | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str:
        if v is None:
            raise field_error("name", "cannot be null")
        return clean_name(v)

    @field_validator("trigger_config")
    @classmethod
    def _trigger_config(cls, v: dict[str, Any] | None) -> dict[str, Any]:
        if v is None:
            raise field_error("trigger_config", "cannot be null (MANUAL campaigns take {})")
        check_json_safe(v, "trigger_config")
        return v  # checked against the campaign's trigger type by the service


class StatusChange(RequestBody):
    status: CampaignStatus = Field(description="The new status. Allowed: DRAFT->ACTIVE, ACTIVE->PAUSED, "
                                               "PAUSED->ACTIVE, DRAFT/ACTIVE/PAUSED->ARCHIVED.")


class CampaignOut(ResponseBody):
    id: int
    broker_id: int
    name: str
    channel: Channel
    trigger_type: TriggerType
    trigger_config: dict[str, Any]
    status: CampaignStatus
    max_contacts: int | None
    quiet_hours: dict[str, Any] | None = None
    goal: dict[str, Any] | None = None
    created_at: datetime | None
    updated_at: datetime | None


class StatsOut(ResponseBody):
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    updated_at: datetime | None = None


class EnrolmentsOut(ResponseBody):
    active: int = 0
    completed: int = 0
    stopped: int = 0
    error: int = Field(default=0, description="Set aside by an engine error: see GET /api/v1/enrolments?status=ERROR")


class CampaignDetail(CampaignOut):
    steps: list[StepOut]
    stats: StatsOut = Field(description="The campaign_stats row (zeros when the campaign has no log yet).")
    enrolments: EnrolmentsOut = Field(description="Leads enrolled in the campaign, by enrolment status.")


class CampaignPage(BaseModel):
    items: list[CampaignOut]
    total: int = Field(description="Number of campaigns matching the filters (all pages).")
    limit: int
    offset: int


class PreviewSample(BaseModel):
    lead_id: int
    full_name: str | None
    recipient: str | None = Field(description="Where the first message would go (null: the lead has no address)")
    subject: str | None = None
    body: str | None = Field(description="The first message rendered for this lead (null: see error)")
    error: str | None = Field(default=None, description="Why the first message would fail for this lead")


class PreviewOut(BaseModel):
    campaign_id: int
    would_enrol: int = Field(description="How many of the broker's leads the trigger would enrol now")
    evaluated: int = Field(description="Leads the trigger was evaluated on: valid at their last validation, "
                                       "not enrolled yet")
    first_message_step: int | None = Field(description="The first send_message step (null: none)")
    samples: list[PreviewSample]
    note: str | None = None


class ApplyOut(BaseModel):
    dag_id: str
    dag_run_id: str = Field(description="The id of the campaign_executor DAG run that was started.")
    dag_is_paused: bool | None = Field(
        default=None, description="True when the DAG is paused in Airflow: the run stays queued until it is unpaused.")
    campaign_id: int
    lead_id: int
    conf: dict[str, Any] = Field(description="The conf (params) of the DAG run.")
