"""The benchmark's own data: the shared synthetic generator (``include/campaigns/devtools/synthetic.py``) with
the benchmark's parameters, its campaign patterns, and the moves its scenarios make -- the previous sweep's
stage movers, the 5 %-change UPDATE of (b), the "make ~N steps due" arrangement of (c). Every stage it
writes is the lead's broker's own (``bench.broker_stages``); it never touches a deliberately malformed lead.

Campaign i belongs to broker ``i % B + 1``; every 16th after the first B is MANUAL (3 of 100), the others
cycle LEAD_SCORE / STAGE_CHANGE / INACTIVITY with a few thresholds (a broker's campaigns are never all
MANUAL, so every lead is evaluated in (a)), channels cycle independently, and the steps come from
``PATTERNS`` (3-5 steps, all four actions, delays of 0 and of 6-72 h, conditions, an inactive and a missing
template) with ``max_contacts`` in (None, 2, 3, None, 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine, text

from include.campaigns.devtools.campaign_specs import (
    CampaignSpec, Role, StepSpec, write_campaigns, write_frequency_caps,
)
from include.campaigns.devtools.synthetic import DEFAULT_INVALID_SHARE, Shape, World, write_dataset
from include.campaigns.devtools.synthetic_catalogue import PREVIOUS_ROLES
from include.campaigns.devtools.synthetic_leads import InvalidRule, copy_text, rows_text
from include.campaigns.domain.vocabulary import CHANNELS
from include.campaigns.infra.database import SqlFolder

SQL = SqlFolder(__file__)
T0 = datetime(2026, 11, 25, 10, tzinfo=timezone.utc)  # (a) runs at T0, (b) at T0+1h, (c) at T0+2h, ...
SNAPSHOT_AT = T0 - timedelta(hours=1)
SNAPSHOT_RUN_ID = "bench-seed"
MISSING_TEMPLATE_ID = 9_999_999
S = StepSpec

PATTERNS = [
    [S("send_message", 0, 0),
     S("make_call", 24, conditions={"has_phone": {"eq": True}}),
     S("send_message", 48, 1),
     S("schedule_meeting", 0, conditions={"score": {"gte": 80}})],
    [S("send_message", 0, 0),
     S("update_stage", 0, conditions={"stage": {"in": [Role("entry")]}}, config={"stage": Role("contacted")}),
     S("make_call", 24),
     S("send_message", 72, 1)],
    [S("make_call", 0),  # no script: a call script must be a voice template, and the data set has none
     S("send_message", 6, 1, conditions={"has_email": {"eq": True}}),
     S("schedule_meeting", 24, conditions={"has_agent": {"eq": True}}),
     S("update_stage", 0, config={"stage": Role("visit")}),
     S("send_message", 48, 0)],
    [S("schedule_meeting", 0, conditions={"score": {"gte": 85}}),
     S("send_message", 0, 0),
     S("send_message", 24, 1, conditions={"days_inactive": {"gte": 20}}),
     S("make_call", 0)],
    [S("update_stage", 0, conditions={"score": {"gte": 80}}, config={"stage": Role("qualified")}),
     S("send_message", 0, 0),
     S("schedule_meeting", 48),
     S("send_message", 24, "inactive")],
    [S("send_message", 0, "missing"),
     S("make_call", 6),
     S("send_message", 24, 1)],
]
MAX_CONTACTS = (None, 2, 3, None, 1)
# CONTRACT §6, with --options on (the default): quiet hours on every third campaign (at T0, 10:00 UTC, it is
# night for the brokers of the Americas west of UTC-4), a goal on every other one, caps for every broker.
QUIET_HOURS = {"start": "21:00", "end": "07:00"}
GOAL = {"stages": [Role("won")]}
FREQUENCY_CAPS = [("whatsapp", 4, 24), (None, 8, 24)]
SCORE_THRESHOLDS = (70, 75, 80, 85)
TO_ROLES = ("qualified", "contacted", "visit", "negotiation")
IDLE_DAYS = (14, 21, 30, 45)


@dataclass(frozen=True)
class BenchShape:
    leads: int
    brokers: int
    campaigns: int
    seed: int
    invalid_share: float = DEFAULT_INVALID_SHARE
    options: bool = True

    @property
    def synthetic(self) -> Shape:
        return Shape(leads=self.leads, brokers=self.brokers, seed=self.seed, invalid_share=self.invalid_share,
                     reference_time=T0, broker_name="Inmobiliaria Bench {id}")


def campaign_specs(shape: BenchShape) -> list[CampaignSpec]:
    specs = []
    for i in range(shape.campaigns):
        if i >= shape.brokers and (i - shape.brokers) % 16 == 15:  # a few, never a broker's only campaign
            trigger, config = "MANUAL", {}
        else:
            trigger = ("LEAD_SCORE", "STAGE_CHANGE", "INACTIVITY")[i % 3]
            config = {"LEAD_SCORE": {"threshold": SCORE_THRESHOLDS[i % 4]},
                      "STAGE_CHANGE": {"to_stage": Role(TO_ROLES[i % 4])},
                      "INACTIVITY": {"days": IDLE_DAYS[i % 4]}}[trigger]
        specs.append(CampaignSpec(broker=i % shape.brokers, name=f"Bench {trigger.title()} {i + 1}",
                                  channel=CHANNELS[(i // 3) % 3], trigger_type=trigger, trigger_config=config,
                                  steps=PATTERNS[i % len(PATTERNS)], status="DRAFT",
                                  max_contacts=MAX_CONTACTS[i % len(MAX_CONTACTS)],
                                  quiet_hours=QUIET_HOURS if shape.options and i % 3 == 0 else None,
                                  goal=GOAL if shape.options and i % 2 == 1 else None,
                                  created_at=T0 - timedelta(days=30)))
    return specs


def broker_stage_rows(world: World) -> list[tuple]:
    """(broker, position, stage, previous stage in the funnel, next stage in the pipeline) for every broker."""
    rows = []
    for broker_id, vocabulary in zip(world.broker_ids, world.vocabularies):
        stages = vocabulary.stages
        for k, (stage, role) in enumerate(vocabulary.words):
            previous = vocabulary.by_role[PREVIOUS_ROLES[role][0]] if role in PREVIOUS_ROLES else None
            rows.append((broker_id, k + 1, stage, previous, stages[(k + 1) % len(stages)]))
    return rows


def build(engine: Engine, shape: BenchShape) -> dict[str, int]:
    """Write the source data into empty tables: brokers, pipelines, agents, templates, campaigns (DRAFT),
    leads; and ``bench.broker_stages`` (the schema ``bench`` must exist)."""
    with engine.begin() as conn:
        world = write_dataset(conn, shape.synthetic)
        write_campaigns(conn, world, campaign_specs(shape), missing_template_id=MISSING_TEMPLATE_ID)
        if shape.options:
            write_frequency_caps(conn, world, {b: FREQUENCY_CAPS for b in range(shape.brokers)})
        conn.execute(SQL("broker_stages"))
        copy_text(conn, "bench.broker_stages", ("broker_id", "position", "stage", "previous_stage", "next_stage"),
                  rows_text(broker_stage_rows(world)))
    with engine.connect() as conn:
        return {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("brokers", "pipeline_stages", "agents", "message_templates", "campaigns",
                              "campaign_steps", "leads", "frequency_caps")}


def seed_previous_sweep(engine: Engine, shape: BenchShape, sweep) -> dict[str, int]:
    """Leave a previous snapshot of every lead, taken by the engine itself, one hour before T0.

    The movers are put back in the stage they came from, ``sweep(run_id, run_at)`` runs the engine's
    stages (every campaign is still a DRAFT: nothing enrols), then the movers get their current stage back
    (with updated_at bumped, as a CRM does) and the campaigns are activated. Whatever the snapshot holds
    (the malformed leads set aside included) is the engine's business.
    """
    with engine.begin() as conn:
        conn.execute(SQL("pick_movers"), InvalidRule(shape.invalid_share).sql_params())
        moved = conn.execute(text("UPDATE leads l SET stage = m.previous_stage FROM bench.movers m "
                                  "WHERE l.id = m.id")).rowcount
    sweep(SNAPSHOT_RUN_ID, SNAPSHOT_AT)
    with engine.begin() as conn:
        conn.execute(text("UPDATE leads l SET stage = m.stage, updated_at = :at FROM bench.movers m WHERE l.id = m.id"),
                     {"at": T0 - timedelta(minutes=30)})
        conn.exec_driver_sql("DROP TABLE bench.movers")
        active = conn.exec_driver_sql("UPDATE campaigns SET status = 'ACTIVE', updated_at = created_at").rowcount
    return {"stage_movers": moved, "campaigns_activated": active}


def change_five_percent(engine: Engine, at: datetime, slot: int, invalid_share: float) -> int:
    """One UPDATE: 5 % of the valid leads change their score, stage or last activity (a third each)."""
    with engine.begin() as conn:
        return conn.execute(SQL("change_leads"),
                            {"at": at, "slot": slot % 20, **InvalidRule(invalid_share).sql_params()}).rowcount


# -- (c): ~N steps due at one run ---------------------------------------------------------------------
def due_positions(engine: Engine) -> list[tuple[int, int, int, float, int]]:
    """Per ACTIVE campaign, the step to make due: (campaign, broker, step_number, delay, chain length).

    The step has a delay > 0 (so it is due exactly at the run, counted from the previous step), preferring
    the shortest chain of zero-delay steps after it. Chain length = steps the run will execute for it.
    """
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT c.id, c.broker_id, s.step_number, s.delay_hours FROM campaigns c "
            "JOIN campaign_steps s ON s.campaign_id = c.id WHERE c.status = 'ACTIVE' "
            "ORDER BY c.id, s.step_number")).all()
    by_campaign: dict[int, list] = {}
    for cid, broker, n, delay in rows:
        by_campaign.setdefault(cid, []).append((broker, n, float(delay)))
    positions = []
    for cid, steps in by_campaign.items():
        best = None
        for k, (broker, n, delay) in enumerate(steps):
            if delay <= 0:
                continue
            chain = 1
            while k + chain < len(steps) and steps[k + chain][2] == 0:
                chain += 1
            if best is None or chain < best[4]:
                best = (cid, broker, n, delay, chain)
        if best:
            positions.append(best)
    return positions


def arrange_due(engine: Engine, run_at: datetime, steps_wanted: int, tag: str, invalid_share: float,
                salt: int = 0) -> dict[str, int]:
    """Insert ACTIVE enrolments whose next step falls due exactly at ``run_at``, ~``steps_wanted`` steps in all.

    Set-based: one INSERT ... SELECT, leads drawn per campaign from its broker in a pseudo-random order,
    skipping malformed leads (they would be set aside) and pairs already enrolled.
    """
    positions = due_positions(engine)
    per_enrolment = sum(p[4] for p in positions)
    quota = max(1, round(steps_wanted / per_enrolment)) if per_enrolment else 0
    chain = {p[0]: p[4] for p in positions}
    with engine.begin() as conn:
        per_campaign = dict(conn.execute(SQL("arrange_due"), {
            **InvalidRule(invalid_share).sql_params(),
            "run_at": run_at, "tag": tag, "salt": salt,
            "cids": [p[0] for p in positions], "brokers": [p[1] for p in positions],
            "steps": [p[2] for p in positions], "delays": [p[3] for p in positions],
            "quotas": [quota] * len(positions),
        }).all())
        conn.exec_driver_sql("ANALYZE campaign_enrolments")
    return {"enrolments": sum(per_campaign.values()),
            "expected_steps": sum(n * chain[cid] for cid, n in per_campaign.items()),
            "campaigns": len(per_campaign)}
