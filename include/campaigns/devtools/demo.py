"""The demo data set: the shared synthetic generator (``synthetic.py``) with the demo's parameters and its
curated campaigns.

It is made to exercise the engine on its first run: brokers with their own pipelines (one with none, its
leads in free text), a snapshot one hour old with a few stage moves (STAGE_CHANGE fires), first steps with
no delay, a missing and an inactive template (FA-1), sandbox "unreachable" phones and ``.invalid`` e-mail
domains (FA-2), ``max_contacts`` (FA-4), do_not_contact leads, leads without agent, and ~0.5 % of leads
malformed on purpose that validation must set aside. Same arguments, same rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from include.campaigns.devtools.campaign_specs import CampaignSpec, Role, StepSpec, write_campaigns
from include.campaigns.devtools.synthetic import DEFAULT_INVALID_SHARE, REFERENCE_TIME, Shape, write_dataset
from include.campaigns.devtools.synthetic_catalogue import PROFILES
from include.campaigns.domain.vocabulary import CHANNELS
from include.campaigns.infra.migrations import truncate_all

__all__ = ["MISSING_TEMPLATE_ID", "REFERENCE_TIME", "SNAPSHOT_RUN_ID", "generate_demo"]

SNAPSHOT_RUN_ID = "demo-seed"
SNAPSHOT_SHARE = 0.90  # of the valid leads, seen by an earlier run
MISSING_TEMPLATE_ID = 999_999  # FA-1: referenced by one step of the first broker, never created
CHANNEL_LABEL = {"whatsapp": "WhatsApp", "sms": "SMS", "email": "Email"}
S = StepSpec

# Every broker's campaigns: (title, trigger, trigger_config, status, max_contacts, steps). Template slots
# given as a dict differ for the first broker (FA-1: an inactive and a missing template).
CAMPAIGNS = [
    ("Leads calientes", "LEAD_SCORE", {"threshold": 70}, "ACTIVE", 2, [
        S("send_message", 0, 0),
        S("make_call", 2, conditions={"has_phone": {"eq": True}}),
        S("send_message", 24, 1),
        S("schedule_meeting", 48, conditions={"score": {"gte": 80}}),
    ]),
    ("Bienvenida a calificados", "STAGE_CHANGE", {"to_stage": Role("qualified")}, "ACTIVE", None, [
        S("send_message", 0, {1: "inactive", None: 0}),
        S("schedule_meeting", 0, conditions={"has_agent": {"eq": True}}),
        S("update_stage", 0, config={"stage": Role("visit")}, conditions={"has_agent": {"eq": True}}),
        S("send_message", 24, 1, conditions={"score": {"gte": 60}}),
    ]),
    ("Reactivación de inactivos", "INACTIVITY", {"days": 14}, "ACTIVE", 3, [
        S("send_message", 0, {1: "missing", None: 1}),
        S("update_stage", 0, config={"stage": Role("contacted")}, conditions={"stage": {"eq": Role("entry")}}),
        S("make_call", 24, conditions={"days_inactive": {"gte": 30}}),
        S("send_message", 48, 0),
        S("send_message", 48, 1),
    ]),
    ("Contacto manual del agente", "MANUAL", {}, "ACTIVE", None, [
        S("make_call", 0),
        S("send_message", 0, 0, conditions={"has_phone": {"eq": True}}),
        S("schedule_meeting", 24),
    ]),
]
FIRST_BROKER_EXTRA = [  # not ACTIVE: the engine must leave them alone
    ("Preventa Torre Norte", "LEAD_SCORE", {"threshold": 85}, "PAUSED", 2, [
        S("send_message", 0, 0, conditions={"has_email": {"eq": True}}),
        S("make_call", 24),
        S("schedule_meeting", 48, conditions={"stage": {"in": [Role("qualified"), Role("visit")]}}),
    ]),
    ("Boletín mensual (borrador)", "INACTIVITY", {"days": 30}, "DRAFT", None, [
        S("send_message", 0, 1),
        S("update_stage", 24, config={"stage": Role("lost")}, conditions={"days_inactive": {"gte": 90}}),
        S("send_message", 48, 0),
    ]),
]


def demo_campaigns(brokers: int, reference_time: datetime) -> list[CampaignSpec]:
    specs = []
    for i in range(brokers):
        for c, (title, trigger, config, status, max_contacts, steps) in enumerate(
                CAMPAIGNS + (FIRST_BROKER_EXTRA if i == 0 else [])):
            channel = CHANNELS[(c + i) % len(CHANNELS)]
            specs.append(CampaignSpec(broker=i, name=f"{title} - {CHANNEL_LABEL[channel]}", channel=channel,
                                      trigger_type=trigger, trigger_config=config, steps=steps, status=status,
                                      max_contacts=max_contacts,
                                      created_at=reference_time - timedelta(days=30 - c, hours=i)))
    return specs


def generate_demo(engine: Engine, *, leads: int, brokers: int = 3, seed: int = 6, reset: bool = True,
                  reference_time: datetime = REFERENCE_TIME,
                  invalid_share: float = DEFAULT_INVALID_SHARE) -> dict[str, int]:
    """Load the demo data set (replacing everything when ``reset``); return the rows written per table."""
    if not 1 <= brokers <= len(PROFILES):
        raise ValueError(f"brokers must be between 1 and {len(PROFILES)}")
    if leads < 0:
        raise ValueError("leads must be >= 0")
    shape = Shape(leads=leads, brokers=brokers, seed=seed, invalid_share=invalid_share,
                  reference_time=reference_time, snapshot_share=SNAPSHOT_SHARE, snapshot_run_id=SNAPSHOT_RUN_ID)
    if reset:
        truncate_all(engine)
    with engine.begin() as conn:
        world = write_dataset(conn, shape)
        counts = write_campaigns(conn, world, demo_campaigns(brokers, reference_time),
                                 missing_template_id=MISSING_TEMPLATE_ID)
    return {**world.counts, **counts}
