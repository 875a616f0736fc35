"""PATCH of a campaign: which fields may change in which status, checked like a new campaign's.

DRAFT: every editable field. ACTIVE and PAUSED: the same fields -- they apply from the next run on (a new
trigger_config to leads not enrolled yet: the next sweep evaluates the broker's leads again; max_contacts,
quiet hours and goal to the steps that run from then on; enrolments already made stay). ARCHIVED: nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from include.campaigns.api.schemas.campaigns import validated_trigger_config
from include.campaigns.api.services.campaigns import CAMPAIGN_COLUMNS, get_campaign, jsonb, row
from include.campaigns.api.services.errors import Conflict, InvalidField
from include.campaigns.api.services.stages import goal_stage_problems, trigger_stage_problems

EDITABLE = ("name", "trigger_config", "max_contacts", "quiet_hours", "goal")
JSON_FIELDS = ("trigger_config", "quiet_hours", "goal")


def update_campaign(conn: Connection, brokers: frozenset[int], campaign_id: int, body: Any) -> dict[str, Any]:
    campaign = get_campaign(conn, brokers, campaign_id, lock=True)
    if campaign["status"] == "ARCHIVED":
        raise Conflict(f"campaign {campaign_id} is ARCHIVED: it can no longer change")
    changes = {field: getattr(body, field) for field in EDITABLE if field in body.model_fields_set}
    if not changes:
        raise InvalidField("body", f"nothing to change: give one of {', '.join(EDITABLE)}")
    if "trigger_config" in changes:
        try:
            changes["trigger_config"] = validated_trigger_config(campaign["trigger_type"], changes["trigger_config"])
        except Exception as exc:  # the model's PydanticCustomError names the field
            ctx = getattr(exc, "context", None) or {}
            raise InvalidField(ctx.get("field", "trigger_config"), ctx.get("message", str(exc))) from None
        for field, problem in trigger_stage_problems(conn, campaign["broker_id"], campaign["trigger_type"],
                                                     changes["trigger_config"]):
            raise InvalidField(field, problem)
    if "goal" in changes:
        for field, problem in goal_stage_problems(conn, campaign["broker_id"], changes["goal"]):
            raise InvalidField(field, problem)
    sets = ", ".join(f"{f} = CAST(:{f} AS jsonb)" if f in JSON_FIELDS else f"{f} = :{f}" for f in changes)
    params = {f: jsonb(v) if f in JSON_FIELDS else v for f, v in changes.items()}
    return row(conn.execute(text(
        f"UPDATE campaigns SET {sets}, updated_at = now() WHERE id = :id RETURNING {CAMPAIGN_COLUMNS}"),
        {**params, "id": campaign_id}).one())
