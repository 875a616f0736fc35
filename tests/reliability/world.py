"""Small worlds the reliability cases run in (plain INSERTs through tests.factories)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Engine, text

from tests.factories import add_agent, add_broker, add_campaign, add_lead, add_template

FULL_CHAIN = [
    {"action": "send_message", "message_template_id": 10},
    {"action": "make_call"},
    {"action": "schedule_meeting"},
    {"action": "update_stage", "config": {"stage": "contacted"}},
    {"action": "send_message", "message_template_id": 10, "delay_hours": 24},
]


def hot_leads(engine: Engine, n: int, *, first_id: int = 1, agent: int | None = 100) -> list[int]:
    ids = list(range(first_id, first_id + n))
    for i in ids:
        add_lead(engine, i, score=90, phone=f"+5255{i:08d}", email=f"lead{i}@example.com", assigned_agent_id=agent,
                 full_name=f"Lead {i}")
    return ids


def broker_world(engine: Engine, leads: int = 6, steps: list[dict] | None = None, **campaign) -> tuple[int, list[int]]:
    """Broker 1, agent 100, whatsapp template 10, ``leads`` hot leads, one LEAD_SCORE campaign."""
    add_broker(engine, 1)
    add_agent(engine, 100, 1)
    add_template(engine, 10, 1, "whatsapp")
    ids = hot_leads(engine, leads)
    cid = add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70},
                       steps=steps if steps is not None else FULL_CHAIN, **campaign)
    return cid, ids


def log_counter(engine: Engine, campaign_id: int | None = None) -> Counter:
    """(step_number, status, reason) -> rows."""
    where = "WHERE campaign_id = :c" if campaign_id is not None else ""
    with engine.connect() as c:
        return Counter(tuple(r) for r in c.execute(text(
            f"SELECT step_number, status, reason FROM campaign_logs {where}"), {"c": campaign_id}))


def scalar(engine: Engine, sql: str, **params):
    with engine.connect() as c:
        return c.execute(text(sql), params).scalar()


def rows(engine: Engine, sql: str, **params) -> list[tuple]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text(sql), params)]
