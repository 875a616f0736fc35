"""A campaign's steps: add (append only while live), replace and delete (DRAFT only)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from include.campaigns.api.services.campaigns import (
    LIVE, STEP_COLUMNS, call_script_problem, get_campaign, row, template_problem, touch,
)
from include.campaigns.api.services.errors import Conflict, InvalidField, NotFound
from include.campaigns.api.services.stages import step_stage_problems

_EXISTS = "SELECT 1 FROM campaign_steps WHERE campaign_id = :id AND step_number = :n"


def _check(conn: Connection, campaign: Mapping[str, Any], body: Any) -> None:
    if body.action == "send_message":
        problem = template_problem(conn, campaign, body.message_template_id)
        if problem:
            raise InvalidField("message_template_id", problem)
    if body.action == "make_call" and body.message_template_id is not None:
        problem = call_script_problem(conn, campaign, body.message_template_id)
        if problem:
            raise InvalidField("message_template_id", problem)
    for field, problem in step_stage_problems(conn, campaign["broker_id"], body.model_dump()):
        raise InvalidField(field, problem)


def _params(campaign_id: int, step_number: int, body: Any) -> dict[str, Any]:
    return {"cid": campaign_id, "n": step_number, "action": body.action, "delay": body.delay_hours,
            "tpl": body.message_template_id, "conditions": json.dumps(body.conditions), "config": json.dumps(body.config)}


def add_step(conn: Connection, brokers: frozenset[int], campaign_id: int, body: Any) -> dict[str, Any]:
    campaign = get_campaign(conn, brokers, campaign_id, lock=True)
    if campaign["status"] == "ARCHIVED":
        raise Conflict(f"campaign {campaign_id} is ARCHIVED: its steps can no longer change")
    last = conn.execute(text("SELECT max(step_number) FROM campaign_steps WHERE campaign_id = :id"),
                        {"id": campaign_id}).scalar_one()
    if conn.execute(text(_EXISTS), {"id": campaign_id, "n": body.step_number}).first():
        raise Conflict(f"campaign {campaign_id} already has a step {body.step_number}")
    if campaign["status"] in LIVE and last is not None and body.step_number <= last:
        raise Conflict(f"campaign {campaign_id} is {campaign['status']}: steps can only be appended after the last "
                       f"one (step_number > {last})")
    _check(conn, campaign, body)
    try:
        with conn.begin_nested():
            r = conn.execute(text(
                "INSERT INTO campaign_steps (campaign_id, step_number, action, delay_hours, message_template_id, "
                "conditions, config) VALUES (:cid, :n, :action, :delay, :tpl, CAST(:conditions AS jsonb), "
                f"CAST(:config AS jsonb)) RETURNING {STEP_COLUMNS}"), _params(campaign_id, body.step_number, body)).one()
    except IntegrityError:
        raise Conflict(f"campaign {campaign_id} already has a step {body.step_number}") from None
    touch(conn, campaign_id)
    return row(r)


def _existing_step_in_draft(conn: Connection, campaign: Mapping[str, Any], step_number: int, verb: str) -> None:
    if not conn.execute(text(_EXISTS), {"id": campaign["id"], "n": step_number}).first():
        raise NotFound(f"campaign {campaign['id']} has no step {step_number}")
    if campaign["status"] != "DRAFT":
        raise Conflict(f"campaign {campaign['id']} is {campaign['status']}: existing steps cannot be {verb} "
                       "(only DRAFT campaigns can; ACTIVE and PAUSED campaigns only accept new steps after the last one)")


def replace_step(conn: Connection, brokers: frozenset[int], campaign_id: int, step_number: int,
                 body: Any) -> dict[str, Any]:
    campaign = get_campaign(conn, brokers, campaign_id, lock=True)
    _existing_step_in_draft(conn, campaign, step_number, "changed")
    _check(conn, campaign, body)
    r = conn.execute(text(
        "UPDATE campaign_steps SET action = :action, delay_hours = :delay, message_template_id = :tpl, "
        "conditions = CAST(:conditions AS jsonb), config = CAST(:config AS jsonb) "
        f"WHERE campaign_id = :cid AND step_number = :n RETURNING {STEP_COLUMNS}"),
        _params(campaign_id, step_number, body)).one()
    touch(conn, campaign_id)
    return row(r)


def delete_step(conn: Connection, brokers: frozenset[int], campaign_id: int, step_number: int) -> None:
    campaign = get_campaign(conn, brokers, campaign_id, lock=True)
    _existing_step_in_draft(conn, campaign, step_number, "deleted")
    conn.execute(text("DELETE FROM campaign_steps WHERE campaign_id = :cid AND step_number = :n"),
                 {"cid": campaign_id, "n": step_number})
    touch(conn, campaign_id)
