"""The admin API's reads and writes, one SQLAlchemy connection (= one transaction) per request.

Every function takes the caller's broker ids: a campaign or lead outside them does not exist (404).
Rule violations raise ``ApiError``; the caller's transaction is then rolled back, so nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from include.campaigns.api.models import CampaignCreate, StepBody, StepCreate

# status -> statuses it may move to
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "DRAFT": ("ACTIVE", "ARCHIVED"),
    "ACTIVE": ("PAUSED", "ARCHIVED"),
    "PAUSED": ("ACTIVE", "ARCHIVED"),
    "ARCHIVED": (),
}
LIVE = ("ACTIVE", "PAUSED")  # statuses whose enrolments may be running

CAMPAIGN_COLUMNS = (
    "id, broker_id, name, channel, trigger_type, trigger_config, status, max_contacts, created_at, updated_at"
)
STEP_COLUMNS = "id, campaign_id, step_number, action, delay_hours, message_template_id, conditions, config"


class ApiError(Exception):
    """An HTTP error with a clear message; ``field`` names the offending input of a 422."""

    def __init__(self, status_code: int, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.field = field


def not_found(what: str, ident: int) -> ApiError:
    return ApiError(404, f"{what} {ident} not found")


# -- brokers ----------------------------------------------------------------------------------------


def broker_ids_for(conn: Connection, username: str) -> frozenset[int]:
    rows = conn.execute(text("SELECT broker_id FROM broker_admins WHERE username = :u"), {"u": username})
    return frozenset(r[0] for r in rows)


def grant(conn: Connection, username: str, broker_ids: Iterable[int]) -> int:
    n = 0
    for b in broker_ids:
        n += conn.execute(
            text("INSERT INTO broker_admins (username, broker_id) VALUES (:u, :b) ON CONFLICT DO NOTHING"),
            {"u": username, "b": b},
        ).rowcount
    return n


def revoke(conn: Connection, username: str, broker_ids: Iterable[int] | None = None) -> int:
    if broker_ids is None:
        return conn.execute(text("DELETE FROM broker_admins WHERE username = :u"), {"u": username}).rowcount
    return sum(
        conn.execute(
            text("DELETE FROM broker_admins WHERE username = :u AND broker_id = :b"), {"u": username, "b": b}
        ).rowcount
        for b in broker_ids
    )


def resolve_broker(brokers: frozenset[int], requested: int | None, username: str) -> int:
    if requested is None:
        if len(brokers) == 1:
            return next(iter(brokers))
        raise ApiError(
            422,
            f"broker_id: required, because user {username!r} administers several brokers "
            f"({', '.join(str(b) for b in sorted(brokers))})",
            field="broker_id",
        )
    if requested not in brokers:
        raise ApiError(403, f"user {username!r} is not an admin of broker {requested}")
    return requested


# -- campaigns --------------------------------------------------------------------------------------


def _row(r: Any) -> dict[str, Any]:
    return dict(r._mapping)


def create_campaign(conn: Connection, broker_id: int, body: CampaignCreate) -> dict[str, Any]:
    row = conn.execute(
        text(
            "INSERT INTO campaigns (broker_id, name, channel, trigger_type, trigger_config, status, max_contacts, "
            "created_at, updated_at) VALUES (:broker_id, :name, :channel, :trigger_type, CAST(:trigger_config AS jsonb), "
            f"'DRAFT', :max_contacts, now(), now()) RETURNING {CAMPAIGN_COLUMNS}"
        ),
        {
            "broker_id": broker_id,
            "name": body.name,
            "channel": body.channel,
            "trigger_type": body.trigger_type,
            "trigger_config": json.dumps(body.trigger_config),
            "max_contacts": body.max_contacts,
        },
    ).one()
    return _row(row)


def list_campaigns(
    conn: Connection,
    brokers: frozenset[int],
    *,
    status: str | None,
    broker_id: int | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    wanted = sorted(brokers if broker_id is None else brokers & {broker_id})
    params = {"brokers": wanted, "status": status, "limit": limit, "offset": offset}
    where = "broker_id = ANY(:brokers) AND (CAST(:status AS text) IS NULL OR status = :status)"
    total = conn.execute(text(f"SELECT count(*) FROM campaigns WHERE {where}"), params).scalar_one()
    rows = conn.execute(
        text(f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE {where} ORDER BY id LIMIT :limit OFFSET :offset"),
        params,
    )
    return [_row(r) for r in rows], total


def get_campaign(conn: Connection, brokers: frozenset[int], campaign_id: int, *, lock: bool = False) -> dict[str, Any]:
    """The campaign if it belongs to one of ``brokers``; ``lock`` serialises writers of the same campaign."""
    row = conn.execute(
        text(
            f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = :id AND broker_id = ANY(:brokers)"
            + (" FOR UPDATE" if lock else "")
        ),
        {"id": campaign_id, "brokers": sorted(brokers)},
    ).one_or_none()
    if row is None:
        raise not_found("campaign", campaign_id)
    return _row(row)


def campaign_detail(conn: Connection, campaign: Mapping[str, Any]) -> dict[str, Any]:
    cid = campaign["id"]
    stats = conn.execute(
        text("SELECT sent, failed, skipped, updated_at FROM campaign_stats WHERE campaign_id = :id"), {"id": cid}
    ).one_or_none()
    enrolments = {"active": 0, "completed": 0, "stopped": 0}
    for status, n in conn.execute(
        text("SELECT status, count(*) FROM campaign_enrolments WHERE campaign_id = :id GROUP BY status"), {"id": cid}
    ):
        enrolments[str(status).lower()] = n
    return {
        **campaign,
        "steps": steps_of(conn, cid),
        "stats": _row(stats) if stats is not None else {"sent": 0, "failed": 0, "skipped": 0, "updated_at": None},
        "enrolments": enrolments,
    }


def change_status(conn: Connection, brokers: frozenset[int], campaign_id: int, new_status: str) -> dict[str, Any]:
    campaign = get_campaign(conn, brokers, campaign_id, lock=True)
    current = campaign["status"]
    if new_status not in TRANSITIONS[current]:
        allowed = ", ".join(TRANSITIONS[current]) or "none (archived campaigns are final)"
        raise ApiError(409, f"cannot change status from {current} to {new_status} (allowed from {current}: {allowed})")
    if new_status == "ACTIVE":
        problems = activation_problems(conn, campaign)
        if problems:
            raise ApiError(409, f"campaign {campaign_id} cannot be activated: " + "; ".join(problems))
    row = conn.execute(
        text(f"UPDATE campaigns SET status = :s, updated_at = now() WHERE id = :id RETURNING {CAMPAIGN_COLUMNS}"),
        {"s": new_status, "id": campaign_id},
    ).one()
    return _row(row)


def activation_problems(conn: Connection, campaign: Mapping[str, Any]) -> list[str]:
    steps = steps_of(conn, campaign["id"])
    if not steps:
        return ["it has no steps (add one with POST /api/v1/campaigns/{id}/steps)"]
    problems = []
    for step in steps:
        if step["action"] == "send_message":
            problem = template_problem(conn, campaign, step["message_template_id"])
            if problem:
                problems.append(f"step {step['step_number']}: {problem}")
    return problems


def template_problem(conn: Connection, campaign: Mapping[str, Any], template_id: int | None) -> str | None:
    """Why a send_message step of ``campaign`` cannot use this template, or None when it can."""
    if template_id is None:
        return "send_message needs a message_template_id"
    row = conn.execute(
        text("SELECT channel, is_active FROM message_templates WHERE id = :id AND broker_id = :b"),
        {"id": template_id, "b": campaign["broker_id"]},
    ).one_or_none()
    if row is None:
        return f"message template {template_id} does not exist for broker {campaign['broker_id']}"
    if not row.is_active:
        return f"message template {template_id} is inactive"
    if row.channel != campaign["channel"]:
        return f"message template {template_id} is for channel {row.channel}, the campaign sends on {campaign['channel']}"
    return None


# -- steps --------------------------------------------------------------------------------------------


def steps_of(conn: Connection, campaign_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        text(f"SELECT {STEP_COLUMNS} FROM campaign_steps WHERE campaign_id = :id ORDER BY step_number"),
        {"id": campaign_id},
    )
    return [_row(r) for r in rows]


def _check_template(conn: Connection, campaign: Mapping[str, Any], body: StepBody) -> None:
    if body.action == "send_message":
        problem = template_problem(conn, campaign, body.message_template_id)
        if problem:
            raise ApiError(422, f"message_template_id: {problem}", field="message_template_id")


def _editable(campaign: Mapping[str, Any]) -> None:
    if campaign["status"] == "ARCHIVED":
        raise ApiError(409, f"campaign {campaign['id']} is ARCHIVED: its steps can no longer change")


def _step_params(campaign_id: int, step_number: int, body: StepBody) -> dict[str, Any]:
    return {
        "cid": campaign_id,
        "n": step_number,
        "action": body.action,
        "delay": body.delay_hours,
        "tpl": body.message_template_id,
        "conditions": json.dumps(body.conditions),
        "config": json.dumps(body.config),
    }


def add_step(conn: Connection, brokers: frozenset[int], campaign_id: int, body: StepCreate) -> dict[str, Any]:
    campaign = get_campaign(conn, brokers, campaign_id, lock=True)
    _editable(campaign)
    last = conn.execute(
        text("SELECT max(step_number) FROM campaign_steps WHERE campaign_id = :id"), {"id": campaign_id}
    ).scalar_one()
    exists = conn.execute(
        text("SELECT 1 FROM campaign_steps WHERE campaign_id = :id AND step_number = :n"),
        {"id": campaign_id, "n": body.step_number},
    ).first()
    if exists:
        raise ApiError(409, f"campaign {campaign_id} already has a step {body.step_number}")
    if campaign["status"] in LIVE and last is not None and body.step_number <= last:
        raise ApiError(
            409,
            f"campaign {campaign_id} is {campaign['status']}: steps can only be appended after the last one "
            f"(step_number > {last})",
        )
    _check_template(conn, campaign, body)
    try:
        with conn.begin_nested():
            row = conn.execute(
                text(
                    "INSERT INTO campaign_steps (campaign_id, step_number, action, delay_hours, message_template_id, "
                    "conditions, config) VALUES (:cid, :n, :action, :delay, :tpl, CAST(:conditions AS jsonb), "
                    f"CAST(:config AS jsonb)) RETURNING {STEP_COLUMNS}"
                ),
                _step_params(campaign_id, body.step_number, body),
            ).one()
    except IntegrityError:
        raise ApiError(409, f"campaign {campaign_id} already has a step {body.step_number}") from None
    _touch(conn, campaign_id)
    return _row(row)


def _existing_step_in_draft(conn: Connection, campaign: Mapping[str, Any], step_number: int, verb: str) -> None:
    exists = conn.execute(
        text("SELECT 1 FROM campaign_steps WHERE campaign_id = :id AND step_number = :n"),
        {"id": campaign["id"], "n": step_number},
    ).first()
    if not exists:
        raise ApiError(404, f"campaign {campaign['id']} has no step {step_number}")
    if campaign["status"] != "DRAFT":
        raise ApiError(
            409,
            f"campaign {campaign['id']} is {campaign['status']}: existing steps cannot be {verb} "
            "(only DRAFT campaigns can; ACTIVE and PAUSED campaigns only accept new steps after the last one)",
        )


def replace_step(
    conn: Connection, brokers: frozenset[int], campaign_id: int, step_number: int, body: StepBody
) -> dict[str, Any]:
    campaign = get_campaign(conn, brokers, campaign_id, lock=True)
    _existing_step_in_draft(conn, campaign, step_number, "changed")
    _check_template(conn, campaign, body)
    row = conn.execute(
        text(
            "UPDATE campaign_steps SET action = :action, delay_hours = :delay, message_template_id = :tpl, "
            "conditions = CAST(:conditions AS jsonb), config = CAST(:config AS jsonb) "
            f"WHERE campaign_id = :cid AND step_number = :n RETURNING {STEP_COLUMNS}"
        ),
        _step_params(campaign_id, step_number, body),
    ).one()
    _touch(conn, campaign_id)
    return _row(row)


def delete_step(conn: Connection, brokers: frozenset[int], campaign_id: int, step_number: int) -> None:
    campaign = get_campaign(conn, brokers, campaign_id, lock=True)
    _existing_step_in_draft(conn, campaign, step_number, "deleted")
    conn.execute(
        text("DELETE FROM campaign_steps WHERE campaign_id = :cid AND step_number = :n"),
        {"cid": campaign_id, "n": step_number},
    )
    _touch(conn, campaign_id)


def _touch(conn: Connection, campaign_id: int) -> None:
    conn.execute(text("UPDATE campaigns SET updated_at = now() WHERE id = :id"), {"id": campaign_id})


# -- apply to lead ------------------------------------------------------------------------------------


def check_apply(conn: Connection, brokers: frozenset[int], campaign_id: int, lead_id: int) -> dict[str, Any]:
    campaign = get_campaign(conn, brokers, campaign_id)
    lead = conn.execute(
        text("SELECT id FROM leads WHERE id = :id AND broker_id = :b"), {"id": lead_id, "b": campaign["broker_id"]}
    ).one_or_none()
    if lead is None:
        raise ApiError(404, f"lead {lead_id} not found for broker {campaign['broker_id']}")
    if campaign["status"] != "ACTIVE":
        raise ApiError(409, f"campaign {campaign_id} is {campaign['status']}: only ACTIVE campaigns can be applied to a lead")
    return campaign
