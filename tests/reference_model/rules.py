"""The reference's rules, one plain function each: validation, stages, triggers, conditions, quiet hours,
goals, frequency caps, rendering and the sandbox provider's refusals (see the package docstring for what
they model)."""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from datetime import datetime, time, timedelta
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

CONTACT_ACTIONS = ("send_message", "make_call")
VOICE = "voice"  # make_call's channel
READ_COLUMNS = ("broker_id", "stage", "score", "last_activity_at", "email", "phone", "timezone")  # validation's input
UNREACHABLE_PREFIX = "+1500555"
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
PHONE_RE = re.compile(r"^\+[1-9][0-9]{7,14}$")
TIME_ZONES = frozenset(zoneinfo.available_timezones())
_JINJA = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True)


def stage_problem(pipeline: Sequence[str], broker_id: int, stage: Any) -> str | None:
    """Why ``stage`` cannot be a stage of this broker (``pipeline`` empty: it has none), or None."""
    if not isinstance(stage, str) or not stage.strip():
        return f"unknown_stage: {stage!r} is not a stage"
    if pipeline and stage not in pipeline:
        return f"unknown_stage: {stage!r} is not in broker {broker_id}'s pipeline ({', '.join(pipeline)})"
    return None


def reject_reasons(lead: Mapping[str, Any], pipeline: Sequence[str], run_at: datetime) -> list[str]:
    """Every data-quality rule the lead breaks (empty: valid)."""
    score, stage, email, phone = lead["score"], lead["stage"], lead["email"], lead["phone"]
    last, tz = lead["last_activity_at"], lead["timezone"]
    broken = {
        "score_missing": score is None,
        "score_out_of_range": score is not None and not 0 <= score <= 100,
        "stage_missing": stage is None or not stage.strip(),
        "unknown_stage": bool(pipeline) and stage is not None and stage not in pipeline,
        "broker_missing": lead["broker_id"] is None,
        "malformed_email": email is not None and EMAIL_RE.match(email) is None,
        "malformed_phone": phone is not None and PHONE_RE.match(phone) is None,
        "activity_in_future": last is not None and last > run_at,
        "unknown_timezone": tz is not None and tz not in TIME_ZONES,
    }
    return sorted(reason for reason, yes in broken.items() if yes)


def trigger_met(campaign: Mapping[str, Any], lead: Mapping[str, Any], previous_stage: str | None,
                run_at: datetime) -> bool:
    cfg = campaign["trigger_config"]
    kind = campaign["trigger_type"]
    if kind == "LEAD_SCORE":
        return lead["score"] is not None and lead["score"] > cfg["threshold"]
    if kind == "STAGE_CHANGE":
        return previous_stage is not None and previous_stage != lead["stage"] and lead["stage"] == cfg["to_stage"]
    if kind == "INACTIVITY":
        last = lead["last_activity_at"]
        return last is not None and run_at - last >= timedelta(days=cfg["days"])
    return False  # MANUAL: only through a run with params


def facts(lead: Mapping[str, Any], run_at: datetime) -> dict[str, Any]:
    last = lead["last_activity_at"]
    return {
        "score": lead["score"],
        "stage": lead["stage"],
        "days_inactive": None if last is None else (run_at - last).total_seconds() / 86400,
        "has_email": bool(lead["email"]),
        "has_phone": bool(lead["phone"]),
        "has_agent": lead["assigned_agent_id"] is not None,
    }


def condition_holds(op: str, actual: Any, expected: Any) -> bool:
    if actual is None:  # a missing value satisfies only "is not" tests
        return op in ("ne", "not_in") and expected is not None
    return {
        "eq": lambda: actual == expected, "ne": lambda: actual != expected,
        "gt": lambda: actual > expected, "gte": lambda: actual >= expected,
        "lt": lambda: actual < expected, "lte": lambda: actual <= expected,
        "in": lambda: actual in expected, "not_in": lambda: actual not in expected,
    }[op]()


def conditions_met(conditions: Mapping[str, Mapping[str, Any]], lead_facts: Mapping[str, Any]) -> bool:
    return all(condition_holds(op, lead_facts[name], value)
               for name, tests in conditions.items() for op, value in tests.items())


def stages_in(conditions: Mapping[str, Mapping[str, Any]]) -> list[Any]:
    """The stages a step's conditions name."""
    values = conditions.get("stage", {}).values()
    return [s for value in values for s in (value if isinstance(value, list) else [value])]


def render(source: str, lead, campaign, agent, broker) -> str:
    full_name = lead["full_name"] or ""
    context = {
        "lead": {"id": lead["id"], "full_name": full_name, "first_name": full_name.split(" ")[0] if full_name else "",
                 "email": lead["email"], "phone": lead["phone"], "stage": lead["stage"], "score": lead["score"]},
        "campaign": {"id": campaign["id"], "name": campaign["name"], "channel": campaign["channel"]},
        "agent": {k: (agent or {}).get(k) or "" for k in ("full_name", "email", "phone")},
        "broker": {"id": broker["id"] if broker else None, "name": (broker or {}).get("name") or ""},
    }
    return _compiled(source).render(**context)


@functools.lru_cache(maxsize=None)
def _compiled(source: str):
    return _JINJA.from_string(source)


def provider_refusal(channel: str, recipient: str) -> str | None:
    if channel == "email":
        return "mailbox unavailable" if recipient.lower().endswith(".invalid") else None
    return "unreachable number" if recipient.startswith(UNREACHABLE_PREFIX) else None


def step_channel(action: str | None, campaign: Mapping[str, Any]) -> str | None:
    """The channel a step's log carries and a frequency cap counts: make_call is voice, send_message the
    campaign's channel, the other actions none."""
    return {"send_message": campaign["channel"], "make_call": VOICE}.get(action)


def in_quiet_hours(window: Mapping[str, str] | None, at: datetime, zone: str | None) -> bool:
    """Whether ``at`` is inside [start, end) in the wall-clock time of ``zone`` (None: UTC); a window whose end
    is not after its start runs across midnight."""
    if not window:
        return False
    local = at.astimezone(zoneinfo.ZoneInfo(zone or "UTC")).time()
    start, end = time.fromisoformat(window["start"]), time.fromisoformat(window["end"])
    if start < end:
        return start <= local < end
    return local >= start or local < end


def in_goal(campaign: Mapping[str, Any], stage: Any) -> bool:
    goal = campaign.get("goal") or {}
    return stage in (goal.get("stages") or ())


def cap_covers(cap: Mapping[str, Any], channel: str) -> bool:
    return cap["channel"] is None or cap["channel"] == channel
