"""Preview: how many leads a campaign's trigger would enrol now, and its first message for a few of them.

Any status (DRAFT included). It reads in a READ ONLY transaction: nothing can be written. The trigger is
judged by the same durable-rules ruleset and pre-filter as a sweep, on the broker's leads that were valid at
their last validation (or never validated yet) and are not enrolled yet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from include.campaigns import triggers
from include.campaigns.api.services.campaigns import get_campaign, steps_of
from include.campaigns.infra.database import SqlFolder
from include.campaigns.templates import TemplateRenderError, render, template_context
from include.campaigns.triggers import EVENT_FIELDS, TriggerDefinition
from rules.campaign_triggers import evaluate

SQL = SqlFolder(__file__)
SAMPLES = 3


def preview(conn: Connection, brokers: frozenset[int], campaign_id: int, now: datetime) -> dict[str, Any]:
    conn.execute(text("SET TRANSACTION READ ONLY"))
    campaign = get_campaign(conn, brokers, campaign_id)
    trigger = triggers.get(campaign["trigger_type"])
    steps = steps_of(conn, campaign_id)
    first = next((s for s in steps if s["action"] == "send_message"), None)
    out: dict[str, Any] = {"campaign_id": campaign_id, "would_enrol": 0, "evaluated": 0,
                           "first_message_step": first["step_number"] if first else None, "samples": [], "note": None}
    if not trigger.automatic:
        out["note"] = f"{trigger.name} campaigns enrol leads only through apply-to-lead"
        return out
    sql = SQL.templated("preview_candidates", prefilter=triggers.prefilter_sql())
    rows = [tuple(r) for r in conn.execute(sql, {"broker_id": campaign["broker_id"], "campaign_id": campaign_id,
                                                 "run_at": now})]
    definition = TriggerDefinition(campaign_id, campaign["broker_id"], campaign["trigger_type"],
                                   campaign["trigger_config"] or {})
    events = ({**dict(zip(EVENT_FIELDS, r)), "stage_changed": bool(r[5]), "mode": "sweep"} for r in rows)
    matched = sorted(lead for _c, lead in evaluate([definition], events))
    total = conn.execute(text("SELECT count(*) FROM leads WHERE broker_id = :b"), {"b": campaign["broker_id"]})
    out.update(would_enrol=len(matched), evaluated=total.scalar_one())
    if first is not None:
        out["samples"] = _samples(conn, campaign, first, matched[:SAMPLES])
    return out


def _by_id(conn: Connection, table: str, ids: list[int]) -> dict[int, dict[str, Any]]:
    return {r["id"]: dict(r) for r in conn.execute(text(f"SELECT * FROM {table} WHERE id = ANY(:ids)"),
                                                   {"ids": ids}).mappings()}


def _samples(conn: Connection, campaign: dict[str, Any], step: dict[str, Any], lead_ids: list[int]) -> list[dict]:
    leads = _by_id(conn, "leads", lead_ids)
    agents = _by_id(conn, "agents", [lead["assigned_agent_id"] for lead in leads.values() if lead["assigned_agent_id"]])
    broker = _by_id(conn, "brokers", [campaign["broker_id"]]).get(campaign["broker_id"])
    tpl = _by_id(conn, "message_templates", [step["message_template_id"]]).get(step["message_template_id"])
    if tpl is not None and tpl["broker_id"] != campaign["broker_id"]:
        tpl = None
    out = []
    for lead_id in lead_ids:
        lead = leads[lead_id]
        sample = {"lead_id": lead_id, "full_name": lead["full_name"], "subject": None, "body": None, "error": None,
                  "recipient": lead["email"] if campaign["channel"] == "email" else lead["phone"]}
        if tpl is None:
            sample["error"] = "template_not_found"
        else:
            context = template_context(lead, campaign, agents.get(lead["assigned_agent_id"]), broker)
            try:
                sample["body"] = render(tpl["body"], context)
                if campaign["channel"] == "email" and tpl["subject"]:
                    sample["subject"] = render(tpl["subject"], context)
            except TemplateRenderError as exc:
                sample["body"], sample["error"] = None, f"render_error: {exc}"
        out.append(sample)
    return out
