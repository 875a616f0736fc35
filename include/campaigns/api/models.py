"""Request and response bodies of the admin API (pydantic 2).

Every request body is strict (no type coercion: ``"70"`` is not an integer, ``true`` is not a number) and
closed (unknown fields are errors), so a typo is a 422 naming the field instead of a silently ignored key.
Cross-field rules (``trigger_config`` against ``trigger_type``, ``config``/``message_template_id`` against
``action``) raise errors whose ``field`` is the full dotted path of the offending value.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from include.campaigns.conditions import ConditionError, validate_conditions
from include.campaigns.domain import ACTIONS, CAMPAIGN_STATUSES, CHANNELS, STAGES, TRIGGER_TYPES

BIGINT_MAX = 2**63 - 1
INT_MAX = 2**31 - 1
MAX_DELAY_HOURS = 8760  # one year
MAX_INACTIVITY_DAYS = 36500
MAX_NAME_LENGTH = 200

Channel = Literal["whatsapp", "sms", "email"]
TriggerType = Literal["LEAD_SCORE", "STAGE_CHANGE", "INACTIVITY", "MANUAL"]
CampaignStatus = Literal["DRAFT", "ACTIVE", "PAUSED", "ARCHIVED"]
Action = Literal["send_message", "make_call", "schedule_meeting", "update_stage"]
Stage = Literal["new", "contacted", "qualified", "visit_scheduled", "negotiation", "won", "lost"]

# The Literals above must stay the contract's vocabulary.
assert set(Channel.__args__) == set(CHANNELS)
assert set(TriggerType.__args__) == set(TRIGGER_TYPES)
assert set(CampaignStatus.__args__) == set(CAMPAIGN_STATUSES)
assert set(Action.__args__) == set(ACTIONS)
assert set(Stage.__args__) == set(STAGES)


def field_error(field: str, message: str) -> PydanticCustomError:
    """A validation error that names its exact field (the 422 handler reads ``ctx.field``)."""
    return PydanticCustomError("invalid_field", "{field}: {message}", {"field": field, "message": message})


def check_json_safe(value: Any, path: str) -> None:
    """Refuse what PostgreSQL cannot store in text/jsonb: NUL, lone surrogates, NaN/Infinity."""
    if isinstance(value, str):
        if "\x00" in value:
            raise field_error(path, "must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise field_error(path, "must be valid Unicode (no lone surrogates)") from None
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise field_error(path, "must be a finite number")
    elif isinstance(value, dict):
        for k, v in value.items():
            check_json_safe(k, path)
            check_json_safe(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_json_safe(v, f"{path}[{i}]")


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


# -- trigger configs ------------------------------------------------------------------------------


class LeadScoreConfig(_Body):
    threshold: int = Field(ge=0, le=100, description="Enrol leads whose score is strictly greater than this.")


class StageChangeConfig(_Body):
    to_stage: Stage = Field(description="Enrol leads that just moved to this stage.")


class InactivityConfig(_Body):
    days: int = Field(ge=1, le=MAX_INACTIVITY_DAYS, description="Enrol leads inactive for at least this many days.")


class ManualConfig(_Body):
    """MANUAL campaigns take no configuration: ``{}``."""


TRIGGER_CONFIG_MODELS: dict[str, type[_Body]] = {
    "LEAD_SCORE": LeadScoreConfig,
    "STAGE_CHANGE": StageChangeConfig,
    "INACTIVITY": InactivityConfig,
    "MANUAL": ManualConfig,
}
TRIGGER_CONFIG_SHAPES = {
    "LEAD_SCORE": '{"threshold": <integer 0..100>}',
    "STAGE_CHANGE": '{"to_stage": <one of ' + ", ".join(STAGES) + ">}",
    "INACTIVITY": '{"days": <integer >= 1>}',
    "MANUAL": "{}",
}


def _sub_errors(exc_errors: list[dict], root: str) -> str:
    """The messages of a nested validation; the first without its path (the error's field names it)."""
    parts = []
    for i, err in enumerate(exc_errors):
        loc = ".".join(str(p) for p in err["loc"])
        if i == 0:
            parts.append(err["msg"])
        else:
            parts.append(f"{root}.{loc}: {err['msg']}" if loc else f"{root}: {err['msg']}")
    return "; ".join(parts)


def _trigger_config_schema() -> dict:
    schemas = []
    for model in TRIGGER_CONFIG_MODELS.values():
        s = model.model_json_schema()
        s.pop("title", None)
        s.pop("description", None)
        schemas.append(s)
    return {"anyOf": schemas}


def _first_error_field(errors: list[dict], root: str) -> str:
    loc = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
    return f"{root}.{loc}" if loc else root


# -- campaigns ------------------------------------------------------------------------------------


class CampaignCreate(_Body):
    """A new campaign; it starts in DRAFT."""

    broker_id: int | None = Field(
        default=None,
        ge=1,
        le=BIGINT_MAX,
        description="The broker that owns the campaign. May be omitted when the caller administers exactly "
        "one broker; must be one of the caller's brokers.",
    )
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    channel: Channel
    trigger_type: TriggerType
    trigger_config: dict[str, Any] = Field(
        default_factory=dict,
        validate_default=True,
        description="Depends on trigger_type: LEAD_SCORE {\"threshold\": 0..100}, STAGE_CHANGE "
        "{\"to_stage\": <stage>}, INACTIVITY {\"days\": >= 1}, MANUAL {}.",
        json_schema_extra=_trigger_config_schema(),
    )
    max_contacts: int | None = Field(
        default=None,
        ge=0,
        le=INT_MAX,
        description="How many send_message + make_call steps one lead may receive; null = unlimited.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        check_json_safe(v, "name")
        if not v.strip():
            raise field_error("name", "must not be blank")
        return v.strip()

    @field_validator("trigger_config")
    @classmethod
    def _trigger_config(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        trigger_type = info.data.get("trigger_type")
        if trigger_type is None:  # trigger_type itself is invalid: that error is reported
            return v
        check_json_safe(v, "trigger_config")
        model = TRIGGER_CONFIG_MODELS[trigger_type]
        try:
            return model.model_validate(v).model_dump()
        except Exception as exc:  # pydantic.ValidationError
            errors = exc.errors() if hasattr(exc, "errors") else []
            raise field_error(
                _first_error_field(errors, "trigger_config"),
                f"{_sub_errors(errors, 'trigger_config')} "
                f"(trigger_type {trigger_type} expects {TRIGGER_CONFIG_SHAPES[trigger_type]})",
            ) from None


class StatusChange(_Body):
    status: CampaignStatus = Field(
        description="The new status. Allowed: DRAFT->ACTIVE, ACTIVE->PAUSED, PAUSED->ACTIVE, "
        "DRAFT/ACTIVE/PAUSED->ARCHIVED."
    )


# -- steps ----------------------------------------------------------------------------------------


class UpdateStageConfig(_Body):
    stage: Stage


CONDITIONS_DESCRIPTION = (
    "{field: {operator: value}}; every test must hold. Fields: score, days_inactive (numbers), stage (a stage), "
    "has_email, has_phone, has_agent (booleans). Operators: eq, ne, gt, gte, lt, lte, in, not_in. "
    'Example: {"score": {"gte": 60}, "stage": {"in": ["new", "contacted"]}}'
)


class StepBody(_Body):
    """The definition of a step (without its number)."""

    action: Action
    delay_hours: float = Field(
        default=0,
        ge=0,
        le=MAX_DELAY_HOURS,
        allow_inf_nan=False,
        description="Hours after the previous step (or the enrolment, for the first step).",
    )
    message_template_id: int | None = Field(
        default=None,
        ge=1,
        le=BIGINT_MAX,
        description="Required for send_message (an active template of the campaign's broker and channel); "
        "must be null for the other actions.",
    )
    conditions: dict[str, Any] = Field(default_factory=dict, description=CONDITIONS_DESCRIPTION)
    config: dict[str, Any] = Field(
        default_factory=dict,
        description='update_stage: {"stage": <stage>} (required). Other actions: an optional object.',
    )

    @field_validator("conditions")
    @classmethod
    def _conditions(cls, v: dict[str, Any]) -> dict[str, Any]:
        check_json_safe(v, "conditions")
        try:
            validate_conditions(v)
        except ConditionError as exc:
            msg = str(exc)
            field, _, rest = msg.partition(": ")
            if not field.startswith("conditions"):
                field, rest = "conditions", msg
            raise field_error(field, rest) from None
        stage_tests = v.get("stage") or {}
        for op, value in stage_tests.items():
            for s in value if isinstance(value, list) else [value]:
                if s not in STAGES:
                    raise field_error(f"conditions.stage.{op}", f"unknown stage {s!r} (stages: {', '.join(STAGES)})")
        return v

    @field_validator("config")
    @classmethod
    def _config(cls, v: dict[str, Any]) -> dict[str, Any]:
        check_json_safe(v, "config")
        return v

    @model_validator(mode="after")
    def _by_action(self) -> StepBody:
        if self.action == "send_message":
            if self.message_template_id is None:
                raise field_error("message_template_id", "required for a send_message step")
        elif self.message_template_id is not None:
            raise field_error("message_template_id", f"must be null for a {self.action} step (only send_message uses a template)")
        if self.action == "update_stage":
            try:
                self.config = UpdateStageConfig.model_validate(self.config).model_dump()
            except Exception as exc:
                errors = exc.errors() if hasattr(exc, "errors") else []
                raise field_error(
                    _first_error_field(errors, "config"),
                    f"{_sub_errors(errors, 'config')} (update_stage expects {{\"stage\": <one of {', '.join(STAGES)}>}})",
                ) from None
        return self


class StepCreate(StepBody):
    step_number: int = Field(
        ge=1,
        le=INT_MAX,
        description="Position of the step; steps run in step_number order. On an ACTIVE or PAUSED campaign "
        "it must be greater than every existing step_number (append only).",
    )


# -- responses ------------------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class CampaignOut(_Out):
    id: int
    broker_id: int
    name: str
    channel: Channel
    trigger_type: TriggerType
    trigger_config: dict[str, Any]
    status: CampaignStatus
    max_contacts: int | None
    created_at: datetime | None
    updated_at: datetime | None


class StepOut(_Out):
    id: int
    campaign_id: int
    step_number: int
    action: Action
    delay_hours: float
    message_template_id: int | None
    conditions: dict[str, Any]
    config: dict[str, Any]


class StatsOut(_Out):
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    updated_at: datetime | None = None


class EnrolmentsOut(_Out):
    active: int = 0
    completed: int = 0
    stopped: int = 0


class CampaignDetail(CampaignOut):
    steps: list[StepOut]
    stats: StatsOut = Field(description="The campaign_stats row (zeros when the campaign has no log yet).")
    enrolments: EnrolmentsOut = Field(description="Leads enrolled in the campaign, by enrolment status.")


class CampaignPage(BaseModel):
    items: list[CampaignOut]
    total: int = Field(description="Number of campaigns matching the filters (all pages).")
    limit: int
    offset: int


class ApplyOut(BaseModel):
    dag_id: str
    dag_run_id: str = Field(description="The id of the campaign_executor DAG run that was started.")
    dag_is_paused: bool | None = Field(
        default=None,
        description="True when the DAG is paused in Airflow: the run stays queued until it is unpaused.",
    )
    campaign_id: int
    lead_id: int
    conf: dict[str, Any] = Field(description="The conf (params) of the DAG run.")


class ErrorOut(BaseModel):
    detail: str


class FieldErrorOut(BaseModel):
    field: str = Field(description="Dotted path of the offending value, e.g. trigger_config.threshold.")
    message: str
    type: str


class ValidationErrorOut(BaseModel):
    detail: str = Field(description="All the problems in one sentence.")
    errors: list[FieldErrorOut]
