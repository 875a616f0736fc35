"""Step bodies. Stages a step names are checked against the broker's pipeline by the service layer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from include.campaigns.api.schemas.common import (
    BIGINT_MAX, INT_MAX, RequestBody, ResponseBody, check_json_safe, field_error, nested_error,
)
from include.campaigns.domain.conditions import FIELDS, ConditionError, validate_conditions
from include.campaigns.engine.actions import ACTION_NAMES

MAX_DELAY_HOURS = 8760  # one year
Action = Literal[ACTION_NAMES]
CONDITIONS_DESCRIPTION = (
    "{field: {operator: value}}; every test must hold. Fields: " + ", ".join(FIELDS) + ". "
    "Operators: eq, ne, gt, gte, lt, lte, in, not_in; stages must be stages of the broker's pipeline. "
    'Example: {"score": {"gte": 60}, "stage": {"in": ["new", "contacted"]}}')


class UpdateStageConfig(RequestBody):
    stage: str = Field(min_length=1, max_length=200)


class StepBody(RequestBody):
    """The definition of a step (without its number)."""

    action: Action
    delay_hours: float = Field(default=0, ge=0, le=MAX_DELAY_HOURS, allow_inf_nan=False,
                               description="Hours after the previous step (or the enrolment, for the first step).")
    message_template_id: int | None = Field(
        default=None, ge=1, le=BIGINT_MAX,
        description="Required for send_message (an active template of the campaign's broker and channel); "
                    "optional for make_call: its call script, an active template of the broker with channel "
                    "'voice'; must be null for the other actions.")
    conditions: dict[str, Any] = Field(default_factory=dict, description=CONDITIONS_DESCRIPTION)
    config: dict[str, Any] = Field(
        default_factory=dict,
        description='update_stage: {"stage": <a stage of the broker\'s pipeline>} (required). Other actions: an '
                    'optional object.')

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
        elif self.message_template_id is not None and self.action != "make_call":
            raise field_error("message_template_id", f"must be null for a {self.action} step (only send_message "
                                                     "and make_call, as its call script, use a template)")
        if self.action == "update_stage":
            try:
                self.config = UpdateStageConfig.model_validate(self.config).model_dump()
            except ValidationError as exc:
                raise nested_error(exc, "config", 'update_stage expects {"stage": <a stage of the broker\'s '
                                                  'pipeline>}') from None
        return self


class StepCreate(StepBody):
    step_number: int = Field(
        ge=1, le=INT_MAX,
        description="Position of the step; steps run in step_number order. On an ACTIVE or PAUSED campaign it "
                    "must be greater than every existing step_number (append only).")


class StepOut(ResponseBody):
    id: int
    campaign_id: int
    step_number: int
    action: Action
    delay_hours: float
    message_template_id: int | None
    conditions: dict[str, Any]
    config: dict[str, Any]
