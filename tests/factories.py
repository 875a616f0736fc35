"""Test data through plain INSERTs of the contract's columns (what a CRM or an admin would write)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

T0 = datetime.fromisoformat("2026-11-25T10:00:00+00:00")


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def add_broker(engine: Engine, broker_id: int = 1, name: str = "Inmobiliaria Sol", tz: str = "America/Mexico_City"):
    with engine.begin() as c:
        c.execute(text("INSERT INTO brokers (id, name, timezone) VALUES (:i, :n, :t)"), {"i": broker_id, "n": name, "t": tz})


def add_pipeline(engine: Engine, broker_id: int, stages: tuple[str, ...] | list[str]):
    """The broker's own pipeline (CRM data): its stages in order."""
    with engine.begin() as c:
        c.execute(text("INSERT INTO pipeline_stages (broker_id, stage, position) VALUES (:b, :s, :p)"),
                  [{"b": broker_id, "s": stage, "p": i} for i, stage in enumerate(stages, start=1)])


def add_frequency_cap(engine: Engine, broker_id: int, channel: str | None, max_contacts: int, per_hours: int):
    with engine.begin() as c:
        c.execute(text("INSERT INTO frequency_caps (broker_id, channel, max_contacts, per_hours) VALUES (:b, :c, :m, :h)"),
                  {"b": broker_id, "c": channel, "m": max_contacts, "h": per_hours})


def add_agent(engine: Engine, agent_id: int, broker_id: int = 1, name: str = "Lucía Romero", phone: str = "+525511112222"):
    with engine.begin() as c:
        c.execute(text("INSERT INTO agents (id, broker_id, full_name, email, phone) VALUES (:i, :b, :n, :e, :p)"),
                  {"i": agent_id, "b": broker_id, "n": name, "e": f"agent{agent_id}@sol.mx", "p": phone})


def add_lead(engine: Engine, lead_id: int, broker_id: int = 1, *, stage: str = "new", score: int | None = 50,
             email: str | None = "ana@example.com", phone: str | None = "+525512345678",
             last_activity_at: datetime | None = None, assigned_agent_id: int | None = None,
             do_not_contact: bool = False, full_name: str = "Ana Pérez", timezone: str | None = "America/Mexico_City"):
    with engine.begin() as c:
        c.execute(text(
            "INSERT INTO leads (id, broker_id, full_name, email, phone, stage, score, last_activity_at, "
            "assigned_agent_id, do_not_contact, timezone, updated_at) VALUES (:id, :b, :n, :e, :p, :s, :sc, :la, "
            ":ag, :dnc, :tz, :up)"),
            {"id": lead_id, "b": broker_id, "n": full_name, "e": email, "p": phone, "s": stage, "sc": score,
             "la": last_activity_at, "ag": assigned_agent_id, "dnc": do_not_contact, "tz": timezone, "up": T0})


def update_lead(engine: Engine, lead_id: int, **values: Any):
    sets = ", ".join(f"{k} = :{k}" for k in values)
    with engine.begin() as c:
        c.execute(text(f"UPDATE leads SET {sets} WHERE id = :id"), {**values, "id": lead_id})


def add_template(engine: Engine, template_id: int, broker_id: int = 1, channel: str = "whatsapp",
                 body: str = "Hola {{ lead.first_name }}, soy {{ agent.full_name }} de {{ broker.name }}.",
                 subject: str | None = None, is_active: bool = True):
    with engine.begin() as c:
        c.execute(text("INSERT INTO message_templates (id, broker_id, channel, name, subject, body, is_active) "
                       "VALUES (:i, :b, :c, :n, :s, :body, :a)"),
                  {"i": template_id, "b": broker_id, "c": channel, "n": f"tpl {template_id}", "s": subject,
                   "body": body, "a": is_active})


def add_campaign(engine: Engine, *, broker_id: int = 1, name: str = "Campaña", channel: str = "whatsapp",
                 trigger_type: str = "MANUAL", trigger_config: dict | None = None, status: str = "ACTIVE",
                 max_contacts: int | None = None, steps: list[dict] | None = None, quiet_hours: dict | None = None,
                 goal: dict | None = None) -> int:
    with engine.begin() as c:
        cid = c.execute(text(
            "INSERT INTO campaigns (broker_id, name, channel, trigger_type, trigger_config, status, max_contacts, "
            "quiet_hours, goal) VALUES (:b, :n, :ch, :t, CAST(:tc AS jsonb), :s, :m, CAST(:q AS jsonb), "
            "CAST(:g AS jsonb)) RETURNING id"),
            {"b": broker_id, "n": name, "ch": channel, "t": trigger_type, "tc": json.dumps(trigger_config or {}),
             "s": status, "m": max_contacts, "q": json.dumps(quiet_hours) if quiet_hours else None,
             "g": json.dumps(goal) if goal else None}).scalar_one()
        for i, step in enumerate(steps or [], start=1):
            c.execute(text(
                "INSERT INTO campaign_steps (campaign_id, step_number, action, delay_hours, message_template_id, "
                "conditions, config) VALUES (:c, :n, :a, :d, :t, CAST(:cond AS jsonb), CAST(:cfg AS jsonb))"),
                {"c": cid, "n": step.get("step_number", i), "a": step["action"], "d": step.get("delay_hours", 0),
                 "t": step.get("message_template_id"), "cond": json.dumps(step.get("conditions", {})),
                 "cfg": json.dumps(step.get("config", {}))})
    return cid


def set_campaign_status(engine: Engine, campaign_id: int, status: str):
    with engine.begin() as c:
        c.execute(text("UPDATE campaigns SET status = :s WHERE id = :i"), {"s": status, "i": campaign_id})


def logs(engine: Engine, campaign_id: int | None = None) -> list[tuple]:
    """(lead_id, step_number, action, status, reason, executed_at) ordered by id."""
    where = "WHERE campaign_id = :c" if campaign_id is not None else ""
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text(
            f"SELECT lead_id, step_number, action, status, reason, executed_at FROM campaign_logs {where} ORDER BY id"),
            {"c": campaign_id})]


def stats(engine: Engine, campaign_id: int) -> tuple[int, int, int] | None:
    with engine.connect() as c:
        row = c.execute(text("SELECT sent, failed, skipped FROM campaign_stats WHERE campaign_id = :c"),
                        {"c": campaign_id}).one_or_none()
    return tuple(row) if row else None


def assert_stats_match_logs(engine: Engine) -> None:
    with engine.connect() as c:
        diff = c.execute(text(
            "SELECT coalesce(s.campaign_id, l.campaign_id) FROM campaign_stats s FULL JOIN ("
            " SELECT campaign_id, count(*) FILTER (WHERE status='SENT') sent, count(*) FILTER (WHERE status='FAILED') failed,"
            " count(*) FILTER (WHERE status='SKIPPED') skipped FROM campaign_logs GROUP BY campaign_id) l"
            " ON l.campaign_id = s.campaign_id"
            " WHERE (s.sent, s.failed, s.skipped) IS DISTINCT FROM (l.sent, l.failed, l.skipped)")).all()
    assert diff == [], f"campaign_stats differs from campaign_logs for campaigns {diff}"
    with engine.connect() as c:  # finish_run counts a run's logs by its time: every log of a run must carry it
        miscounted = c.execute(text(
            "SELECT r.run_id FROM pipeline_runs r LEFT JOIN (SELECT run_id, count(*) FILTER (WHERE status='SENT') sent,"
            " count(*) FILTER (WHERE status='FAILED') failed, count(*) FILTER (WHERE status='SKIPPED') skipped"
            " FROM campaign_logs GROUP BY run_id) l ON l.run_id = r.run_id"
            " WHERE r.finished_at IS NOT NULL AND ((r.counts->>'logs_sent')::int, (r.counts->>'logs_failed')::int,"
            " (r.counts->>'logs_skipped')::int) IS DISTINCT FROM (coalesce(l.sent, 0), coalesce(l.failed, 0),"
            " coalesce(l.skipped, 0))")).scalars().all()
    assert miscounted == [], f"finished runs whose counts differ from their logs: {miscounted}"
