"""Campaigns: create, list, read with steps and stats, change status."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, text

from include.campaigns.api.services.errors import Conflict, InvalidField, not_found
from include.campaigns.api.services.stages import goal_stage_problems, step_stage_problems, trigger_stage_problems
from include.campaigns.domain.vocabulary import VOICE

# status -> statuses it may move to
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "DRAFT": ("ACTIVE", "ARCHIVED"),
    "ACTIVE": ("PAUSED", "ARCHIVED"),
    "PAUSED": ("ACTIVE", "ARCHIVED"),
    "ARCHIVED": (),
}
LIVE = ("ACTIVE", "PAUSED")  # statuses whose enrolments may be running
CAMPAIGN_COLUMNS = ("id, broker_id, name, channel, trigger_type, trigger_config, status, max_contacts, quiet_hours, "
                    "goal, created_at, updated_at")
STEP_COLUMNS = "id, campaign_id, step_number, action, delay_hours, message_template_id, conditions, config"


def row(r: Any) -> dict[str, Any]:
    return dict(r._mapping)


def jsonb(value: Any) -> str | None:
    """A pydantic model, dict or None as a jsonb parameter."""
    if value is None:
        return None
    return json.dumps(value.model_dump() if hasattr(value, "model_dump") else value)


def create_campaign(conn: Connection, broker_id: int, body: Any) -> dict[str, Any]:
    problems = trigger_stage_problems(conn, broker_id, body.trigger_type, body.trigger_config)
    problems += goal_stage_problems(conn, broker_id, body.goal)
    for field, problem in problems:
        raise InvalidField(field, problem)
    return row(conn.execute(text(
        "INSERT INTO campaigns (broker_id, name, channel, trigger_type, trigger_config, status, max_contacts, "
        "quiet_hours, goal, created_at, updated_at) VALUES (:broker_id, :name, :channel, :trigger_type, "
        "CAST(:trigger_config AS jsonb), 'DRAFT', :max_contacts, CAST(:quiet_hours AS jsonb), CAST(:goal AS jsonb), "
        f"now(), now()) RETURNING {CAMPAIGN_COLUMNS}"),
        {"broker_id": broker_id, "name": body.name, "channel": body.channel, "trigger_type": body.trigger_type,
         "trigger_config": json.dumps(body.trigger_config), "max_contacts": body.max_contacts,
         "quiet_hours": jsonb(body.quiet_hours), "goal": jsonb(body.goal)}).one())


def list_campaigns(conn: Connection, brokers: frozenset[int], *, status: str | None, broker_id: int | None,
                   limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    wanted = sorted(brokers if broker_id is None else brokers & {broker_id})
    params = {"brokers": wanted, "status": status, "limit": limit, "offset": offset}
    where = "broker_id = ANY(:brokers) AND (CAST(:status AS text) IS NULL OR status = :status)"
    total = conn.execute(text(f"SELECT count(*) FROM campaigns WHERE {where}"), params).scalar_one()
    rows = conn.execute(text(
        f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE {where} ORDER BY id LIMIT :limit OFFSET :offset"), params)
    return [row(r) for r in rows], total


def get_campaign(conn: Connection, brokers: frozenset[int], campaign_id: int, *, lock: bool = False) -> dict[str, Any]:
    """The campaign if it belongs to one of ``brokers``; ``lock`` serialises writers of the same campaign."""
    r = conn.execute(text(
        f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = :id AND broker_id = ANY(:brokers)"
        + (" FOR UPDATE" if lock else "")), {"id": campaign_id, "brokers": sorted(brokers)}).one_or_none()
    if r is None:
        raise not_found("campaign", campaign_id)
    return row(r)


def steps_of(conn: Connection, campaign_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(text(f"SELECT {STEP_COLUMNS} FROM campaign_steps WHERE campaign_id = :id ORDER BY step_number"),
                        {"id": campaign_id})
    return [row(r) for r in rows]


def campaign_detail(conn: Connection, campaign: Mapping[str, Any]) -> dict[str, Any]:
    cid = campaign["id"]
    stats = conn.execute(text("SELECT sent, failed, skipped, updated_at FROM campaign_stats WHERE campaign_id = :id"),
                         {"id": cid}).one_or_none()
    enrolments = {"active": 0, "completed": 0, "stopped": 0, "error": 0}
    for status, n in conn.execute(
            text("SELECT status, count(*) FROM campaign_enrolments WHERE campaign_id = :id GROUP BY status"), {"id": cid}):
        enrolments[str(status).lower()] = n
    return {**campaign, "steps": steps_of(conn, cid),
            "stats": row(stats) if stats is not None else {"sent": 0, "failed": 0, "skipped": 0, "updated_at": None},
            "enrolments": enrolments}


def change_status(conn: Connection, brokers: frozenset[int], campaign_id: int, new_status: str) -> dict[str, Any]:
    campaign = get_campaign(conn, brokers, campaign_id, lock=True)
    current = campaign["status"]
    if new_status not in TRANSITIONS[current]:
        allowed = ", ".join(TRANSITIONS[current]) or "none (archived campaigns are final)"
        raise Conflict(f"cannot change status from {current} to {new_status} (allowed from {current}: {allowed})")
    if new_status == "ACTIVE":
        problems = activation_problems(conn, campaign)
        if problems:
            raise Conflict(f"campaign {campaign_id} cannot be activated: " + "; ".join(problems))
    return row(conn.execute(text(
        f"UPDATE campaigns SET status = :s, updated_at = now() WHERE id = :id RETURNING {CAMPAIGN_COLUMNS}"),
        {"s": new_status, "id": campaign_id}).one())


def activation_problems(conn: Connection, campaign: Mapping[str, Any]) -> list[str]:
    """Why the campaign cannot run as it is: no steps, unusable templates, stages its broker lacks."""
    steps = steps_of(conn, campaign["id"])
    if not steps:
        return ["it has no steps (add one with POST /api/v1/campaigns/{id}/steps)"]
    problems = [f"{field}: {p}" for field, p in trigger_stage_problems(
        conn, campaign["broker_id"], campaign["trigger_type"], campaign["trigger_config"] or {})]
    problems += [f"{field}: {p}" for field, p in goal_stage_problems(conn, campaign["broker_id"], campaign["goal"])]
    for step in steps:
        n = step["step_number"]
        if step["action"] == "send_message":
            problem = template_problem(conn, campaign, step["message_template_id"])
            if problem:
                problems.append(f"step {n}: {problem}")
        if step["action"] == "make_call" and step["message_template_id"] is not None:
            problem = call_script_problem(conn, campaign, step["message_template_id"])
            if problem:
                problems.append(f"step {n}: {problem}")
        problems += [f"step {n} {field}: {p}" for field, p in step_stage_problems(conn, campaign["broker_id"], step)]
    return problems


def template_problem(conn: Connection, campaign: Mapping[str, Any], template_id: int | None) -> str | None:
    """Why a send_message step of ``campaign`` cannot use this template, or None when it can."""
    if template_id is None:
        return "send_message needs a message_template_id"
    return _usable(conn, campaign, template_id, campaign["channel"], f"the campaign sends on {campaign['channel']}")


def call_script_problem(conn: Connection, campaign: Mapping[str, Any], template_id: int) -> str | None:
    """Why a make_call step cannot speak this template: a call script is an active 'voice' template of the broker."""
    return _usable(conn, campaign, template_id, VOICE, f"a call script must be a {VOICE} template")


def _usable(conn: Connection, campaign: Mapping[str, Any], template_id: int, channel: str, why: str) -> str | None:
    r = conn.execute(text("SELECT channel, is_active FROM message_templates WHERE id = :id AND broker_id = :b"),
                     {"id": template_id, "b": campaign["broker_id"]}).one_or_none()
    if r is None:
        return f"message template {template_id} does not exist for broker {campaign['broker_id']}"
    if not r.is_active:
        return f"message template {template_id} is inactive"
    if r.channel != channel:
        return f"message template {template_id} is for channel {r.channel}, {why}"
    return None


def touch(conn: Connection, campaign_id: int) -> None:
    conn.execute(text("UPDATE campaigns SET updated_at = now() WHERE id = :id"), {"id": campaign_id})
