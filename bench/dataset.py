"""The benchmark's data set: N leads over B brokers, C ACTIVE campaigns, a previous snapshot; built with COPY.

Deterministic for a given (leads, brokers, campaigns, seed): numpy's PCG64 draws every column at once,
rows are formatted in chunks and streamed with COPY. The demo generator stops at 6 brokers and writes
row by row; this one is made for 1,000,000 leads in seconds.

What it holds, per broker: ``agents_per_broker`` agents (one per ~200 leads: meetings need free slots),
9 templates (3 channels x 2 active + 1 inactive). Campaign i belongs to broker ``i % B + 1``; every 16th
after the first B is MANUAL (3 of 100), the others cycle LEAD_SCORE / STAGE_CHANGE / INACTIVITY with a
few thresholds (a broker's campaigns never all MANUAL, so every lead is evaluated in (a)), channels cycle
independently, and the steps come from ``PATTERNS`` (3-5 steps, all four actions, delays of 0 and of
6-72 h, conditions, an inactive and a missing template) with ``max_contacts`` in (None, 2, 3, None, 1).

Leads: a sales funnel (stage weights, score centred per stage), 85 % with e-mail (1 in 100 of them at a
bouncing ``.invalid`` domain), 90 % with phone (2 % sandbox-unreachable ``+1500555``), 90 % with an agent,
3 % do_not_contact, activity up to 60 days old (5 % never active). Every lead with ``id % 200 == 37``
is malformed (validation rejects it; 0.5 %), which lets set-based SQL avoid them without a lookup.

Previous snapshot: every valid lead, one hour before ``T0``, ~5 % of them one funnel stage earlier so
that STAGE_CHANGE campaigns fire in the first run.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
from sqlalchemy import Engine, text

T0 = datetime(2026, 11, 25, 10, tzinfo=timezone.utc)  # (a) runs at T0, (b) at T0+1h, (c) at T0+2h, ...
SNAPSHOT_AT = T0 - timedelta(hours=1)
SNAPSHOT_RUN_ID = "bench-seed"
MALFORMED_MOD, MALFORMED_REST = 200, 37
MISSING_TEMPLATE_ID = 9_999_999
COPY_CHUNK = 100_000

STAGES = ("new", "contacted", "qualified", "visit_scheduled", "negotiation", "won", "lost")
STAGE_P = np.array([30, 25, 15, 10, 7, 5, 8], dtype=float) / 100
SCORE_MEAN = np.array([35, 48, 68, 74, 80, 88, 25], dtype=float)
PREVIOUS = np.array([0, 0, 1, 2, 3, 4, 1])  # index of the stage before, in the funnel ('new' has none)
CHANNELS = ("whatsapp", "sms", "email")
TIMEZONES = ("America/Mexico_City", "America/Bogota", "Europe/Madrid", "America/Lima", "America/Santiago",
             "America/Argentina/Buenos_Aires")
COUNTRY = ("+5255", "+573", "+346", "+519", "+569", "+5411")
FIRST = ("Jose", "Maria", "Juan", "Guadalupe", "Luis", "Ana", "Carlos", "Sofia", "Jorge", "Valentina", "Miguel",
         "Camila", "Andres", "Daniela", "Alejandro", "Fernanda", "Diego", "Lucia", "Javier", "Isabel")
LAST = ("Garcia", "Hernandez", "Martinez", "Lopez", "Gonzalez", "Rodriguez", "Perez", "Sanchez", "Ramirez",
        "Torres", "Flores", "Rivera", "Gomez", "Diaz", "Cruz", "Morales", "Reyes", "Ortiz", "Gutierrez", "Chavez")
DOMAINS = ("gmail.com", "hotmail.com", "outlook.com", "yahoo.com", "icloud.com")
MALFORMED_KINDS = ("score_high", "score_negative", "unknown_stage", "bad_email", "bad_phone", "future_activity")

BODIES = (
    "Hola {{ lead.first_name }}, soy {{ agent.full_name }} de {{ broker.name }}. ¿Hablamos hoy?",
    "{{ lead.first_name }}, tenemos opciones nuevas en {{ campaign.name }}. ¿Agendamos una visita?",
    "Hola {{ lead.full_name }}, esta promoción de {{ broker.name }} ya terminó.",
)

# A step: (action, delay_hours, template slot 0/1, "inactive", "missing" or None, conditions, config)
PATTERNS = [
    [("send_message", 0, 0, {}, {}),
     ("make_call", 24, None, {"has_phone": {"eq": True}}, {}),
     ("send_message", 48, 1, {}, {}),
     ("schedule_meeting", 0, None, {"score": {"gte": 80}}, {})],
    [("send_message", 0, 0, {}, {}),
     ("update_stage", 0, None, {"stage": {"in": ["new"]}}, {"stage": "contacted"}),
     ("make_call", 24, None, {}, {}),
     ("send_message", 72, 1, {}, {})],
    [("make_call", 0, 0, {}, {}),
     ("send_message", 6, 1, {"has_email": {"eq": True}}, {}),
     ("schedule_meeting", 24, None, {"has_agent": {"eq": True}}, {}),
     ("update_stage", 0, None, {}, {"stage": "visit_scheduled"}),
     ("send_message", 48, 0, {}, {})],
    [("schedule_meeting", 0, None, {"score": {"gte": 85}}, {}),
     ("send_message", 0, 0, {}, {}),
     ("send_message", 24, 1, {"days_inactive": {"gte": 20}}, {}),
     ("make_call", 0, None, {}, {})],
    [("update_stage", 0, None, {"score": {"gte": 80}}, {"stage": "qualified"}),
     ("send_message", 0, 0, {}, {}),
     ("schedule_meeting", 48, None, {}, {}),
     ("send_message", 24, "inactive", {}, {})],
    [("send_message", 0, "missing", {}, {}),
     ("make_call", 6, None, {}, {}),
     ("send_message", 24, 1, {}, {})],
]
MAX_CONTACTS = (None, 2, 3, None, 1)
SCORE_THRESHOLDS = (70, 75, 80, 85)
TO_STAGES = ("qualified", "contacted", "visit_scheduled", "negotiation")
IDLE_DAYS = (14, 21, 30, 45)


@dataclass(frozen=True)
class Shape:
    leads: int
    brokers: int
    campaigns: int
    seed: int

    @property
    def agents_per_broker(self) -> int:
        return max(5, math.ceil(self.leads / self.brokers / 200))


def campaign_rows(shape: Shape) -> tuple[list[dict], list[dict]]:
    campaigns, steps = [], []
    for i in range(shape.campaigns):
        cid, broker = i + 1, i % shape.brokers + 1
        channel = CHANNELS[(i // 3) % 3]
        if i >= shape.brokers and (i - shape.brokers) % 16 == 15:  # a few, never a broker's only campaign
            trigger, config = "MANUAL", {}
        else:
            trigger = ("LEAD_SCORE", "STAGE_CHANGE", "INACTIVITY")[i % 3]
            config = {"LEAD_SCORE": {"threshold": SCORE_THRESHOLDS[i % 4]},
                      "STAGE_CHANGE": {"to_stage": TO_STAGES[i % 4]},
                      "INACTIVITY": {"days": IDLE_DAYS[i % 4]}}[trigger]
        campaigns.append({"id": cid, "broker_id": broker, "name": f"Bench {trigger.title()} {cid}",
                          "channel": channel, "trigger_type": trigger, "trigger_config": json.dumps(config),
                          "status": "DRAFT", "max_contacts": MAX_CONTACTS[i % len(MAX_CONTACTS)],
                          "created_at": T0 - timedelta(days=30)})
        for n, (action, delay, slot, conditions, cfg) in enumerate(PATTERNS[i % len(PATTERNS)], start=1):
            if slot is None:
                template = None
            elif slot == "missing":
                template = MISSING_TEMPLATE_ID
            else:
                template = template_id(broker, channel, 2 if slot == "inactive" else slot)
            steps.append({"campaign_id": cid, "step_number": n, "action": action, "delay_hours": delay,
                          "message_template_id": template, "conditions": json.dumps(conditions),
                          "config": json.dumps(cfg)})
    return campaigns, steps


def template_id(broker: int, channel: str, slot: int) -> int:
    return (broker - 1) * 9 + CHANNELS.index(channel) * 3 + slot + 1


def _iso(seconds: np.ndarray) -> np.ndarray:
    """Seconds since the epoch -> ISO-8601 UTC strings (vectorised)."""
    return np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s", timezone="UTC")


def lead_columns(shape: Shape, start: int, stop: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Leads with ids start+1..stop (one draw per column; rng advances the same way for a given range)."""
    n = stop - start
    ids = np.arange(start + 1, stop + 1, dtype=np.int64)
    broker = (ids - 1) % shape.brokers + 1
    stage = rng.choice(len(STAGES), size=n, p=STAGE_P)
    score = np.clip(np.rint(rng.normal(SCORE_MEAN[stage], 15.0)), 0, 100).astype(np.int64)
    t0 = int(T0.timestamp())
    never = rng.random(n) < 0.05
    last = t0 - 3600 - (60 * 86400 * rng.random(n) ** 2).astype(np.int64)  # seen by the previous sweep
    updated = np.where(never, t0 - 86400 * (1 + rng.integers(0, 90, n)), last)
    has_email, bounce = rng.random(n) < 0.85, rng.random(n) < 0.01
    has_phone, unreachable = rng.random(n) < 0.90, rng.random(n) < 0.02
    number = rng.integers(0, 10 ** 8, n)
    has_agent = rng.random(n) < 0.90
    agent = (broker - 1) * shape.agents_per_broker + 1 + rng.integers(0, shape.agents_per_broker, n)
    dnc = rng.random(n) < 0.03
    first, last_name, last2 = (rng.integers(0, len(FIRST), n), rng.integers(0, len(LAST), n),
                               rng.integers(0, len(LAST), n))
    domain = rng.integers(0, len(DOMAINS), n)
    return {"id": ids, "broker": broker, "stage": stage, "score": score, "never": never, "last": last,
            "updated": updated, "has_email": has_email, "bounce": bounce, "has_phone": has_phone,
            "unreachable": unreachable, "number": number, "has_agent": has_agent, "agent": agent, "dnc": dnc,
            "first": first, "last_name": last_name, "last2": last2, "domain": domain}


def _format(shape: Shape, c: dict[str, np.ndarray]) -> str:
    """COPY text for the leads."""
    last_iso, upd_iso = _iso(c["last"]), _iso(c["updated"])
    future_iso = _iso(np.full(1, int((T0 + timedelta(days=5)).timestamp())))[0]
    leads = io.StringIO()
    for k in range(len(c["id"])):
        lid = int(c["id"][k])
        b = int(c["broker"][k])
        fn, ln = FIRST[c["first"][k]], LAST[c["last_name"][k]]
        stage = STAGES[c["stage"][k]]
        score = int(c["score"][k])
        email = (f"{fn.lower()}.{ln.lower()}{lid}@{'rebote.invalid' if c['bounce'][k] else DOMAINS[c['domain'][k]]}"
                 if c["has_email"][k] else "\\N")
        if not c["has_phone"][k]:
            phone = "\\N"
        elif c["unreachable"][k]:
            phone = f"+1500555{c['number'][k] % 10000:04d}"
        else:
            phone = f"{COUNTRY[(b - 1) % len(COUNTRY)]}{c['number'][k]:08d}"
        last = "\\N" if c["never"][k] else last_iso[k]
        updated = upd_iso[k]
        malformed = lid % MALFORMED_MOD == MALFORMED_REST
        if malformed:
            kind = MALFORMED_KINDS[(lid // MALFORMED_MOD) % len(MALFORMED_KINDS)]
            if kind == "score_high":
                score = 150
            elif kind == "score_negative":
                score = -5
            elif kind == "unknown_stage":
                stage = "zombie"
            elif kind == "bad_email":
                email = f"{fn.lower()}.sin-arroba.{DOMAINS[0]}"
            elif kind == "bad_phone":
                phone = "12ab"
            else:
                last = updated = future_iso
        agent = str(int(c["agent"][k])) if c["has_agent"][k] else "\\N"
        leads.write(f"{lid}\t{b}\t{fn} {ln} {LAST[c['last2'][k]]}\t{email}\t{phone}\t{stage}\t{score}\t{last}\t"
                    f"{agent}\t{'t' if c['dnc'][k] else 'f'}\t{TIMEZONES[(b - 1) % len(TIMEZONES)]}\t{updated}\n")
    return leads.getvalue()


LEAD_COLS = ("id", "broker_id", "full_name", "email", "phone", "stage", "score", "last_activity_at",
             "assigned_agent_id", "do_not_contact", "timezone", "updated_at")


def _copy(conn, table: str, columns: tuple[str, ...], payload: str) -> None:
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write(payload)


def build(engine: Engine, shape: Shape) -> dict[str, int]:
    """Write the source data into empty tables: brokers, agents, templates, campaigns (DRAFT), leads."""
    rng = np.random.Generator(np.random.PCG64(shape.seed))
    counts: dict[str, int] = {}
    campaigns, steps = campaign_rows(shape)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO brokers (id, name, timezone) VALUES (:id, :name, :tz)"),
                     [{"id": b, "name": f"Inmobiliaria Bench {b}", "tz": TIMEZONES[(b - 1) % len(TIMEZONES)]}
                      for b in range(1, shape.brokers + 1)])
        apb = shape.agents_per_broker
        agents = io.StringIO()
        for b in range(1, shape.brokers + 1):
            for k in range(apb):
                aid = (b - 1) * apb + k + 1
                agents.write(f"{aid}\t{b}\t{FIRST[aid % len(FIRST)]} {LAST[(aid // 7) % len(LAST)]}\t"
                             f"agente{aid}@bench.example\t{COUNTRY[(b - 1) % len(COUNTRY)]}{aid:08d}\n")
        _copy(conn, "agents", ("id", "broker_id", "full_name", "email", "phone"), agents.getvalue())
        conn.execute(text("INSERT INTO message_templates (id, broker_id, channel, name, subject, body, is_active) "
                          "VALUES (:id, :b, :ch, :name, :subject, :body, :active)"),
                     [{"id": template_id(b, ch, slot), "b": b, "ch": ch, "name": f"{ch} {slot}",
                       "subject": "Novedades para {{ lead.first_name }}" if ch == "email" else None,
                       "body": BODIES[slot], "active": slot < 2}
                      for b in range(1, shape.brokers + 1) for ch in CHANNELS for slot in range(3)])
        conn.execute(text("INSERT INTO campaigns (id, broker_id, name, channel, trigger_type, trigger_config, status, "
                          "max_contacts, created_at, updated_at) VALUES (:id, :broker_id, :name, :channel, "
                          ":trigger_type, CAST(:trigger_config AS jsonb), :status, :max_contacts, :created_at, "
                          ":created_at)"), campaigns)
        conn.execute(text("INSERT INTO campaign_steps (campaign_id, step_number, action, delay_hours, "
                          "message_template_id, conditions, config) VALUES (:campaign_id, :step_number, :action, "
                          ":delay_hours, :message_template_id, CAST(:conditions AS jsonb), CAST(:config AS jsonb))"),
                     steps)
        # campaigns got explicit ids: keep their identity ahead of them for anyone inserting later
        conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('campaigns', 'id'), "
                             "(SELECT max(id) FROM campaigns))")
        for start in range(0, shape.leads, COPY_CHUNK):
            stop = min(shape.leads, start + COPY_CHUNK)
            _copy(conn, "leads", LEAD_COLS, _format(shape, lead_columns(shape, start, stop, rng)))
    with engine.connect() as conn:
        for table in ("brokers", "agents", "message_templates", "campaigns", "campaign_steps", "leads"):
            counts[table] = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    return counts


# -- the previous sweep ----------------------------------------------------------------------------------
# ~5 % of the valid leads were one funnel stage earlier when the previous sweep saw them.
PREVIOUS_STAGE_SQL = """
CASE stage WHEN 'contacted' THEN 'new' WHEN 'qualified' THEN 'contacted' WHEN 'visit_scheduled' THEN 'qualified'
           WHEN 'negotiation' THEN 'visit_scheduled' WHEN 'won' THEN 'negotiation' WHEN 'lost' THEN 'contacted' END
"""


def seed_previous_sweep(engine: Engine, sweep) -> dict[str, int]:
    """Leave a previous snapshot of every valid lead, taken by the engine itself, one hour before T0.

    The movers are put back in their previous stage, ``sweep(run_id, run_at)`` runs the engine's
    snapshot / validate / evaluate / enrol stages (every campaign is still a DRAFT: nothing enrols),
    then the movers get their current stage back (with updated_at bumped, as a CRM does) and the
    campaigns are activated. Whatever the snapshot holds is the engine's business.
    """
    with engine.begin() as conn:
        conn.execute(text(
            "CREATE TABLE bench.movers AS SELECT id, stage FROM leads "
            f"WHERE (id * 2654435761) % 100 < 5 AND id % {MALFORMED_MOD} <> {MALFORMED_REST} AND stage <> 'new'"))
        moved = conn.execute(text(f"UPDATE leads SET stage = {PREVIOUS_STAGE_SQL} "
                                  "WHERE id IN (SELECT id FROM bench.movers)")).rowcount
    sweep(SNAPSHOT_RUN_ID, SNAPSHOT_AT)
    with engine.begin() as conn:
        conn.execute(text("UPDATE leads l SET stage = m.stage, updated_at = :at FROM bench.movers m WHERE l.id = m.id"),
                     {"at": T0 - timedelta(minutes=30)})
        conn.exec_driver_sql("DROP TABLE bench.movers")
        active = conn.exec_driver_sql("UPDATE campaigns SET status = 'ACTIVE', updated_at = created_at").rowcount
    return {"stage_movers": moved, "campaigns_activated": active}


# -- (b): 5 % of the leads change -----------------------------------------------------------------
CHANGE_SQL = """
UPDATE leads SET
    score = CASE WHEN (id / 20) % 3 = 0 THEN least(100, score + 10 + (id % 31)) ELSE score END,
    stage = CASE WHEN (id / 20) % 3 = 1 THEN
                 (ARRAY['contacted', 'qualified', 'visit_scheduled', 'negotiation', 'won', 'lost', 'qualified'])
                 [1 + (id / 60) % 7]
            ELSE stage END,
    last_activity_at = CASE WHEN (id / 20) % 3 = 2 THEN CAST(:at AS timestamptz) - (id % 50) * interval '1 minute'
                       ELSE last_activity_at END,
    updated_at = CAST(:at AS timestamptz)
WHERE id % 20 = :slot AND id % 200 <> 37
"""


def change_five_percent(engine: Engine, at: datetime, slot: int) -> int:
    """One UPDATE: 5 % of the (valid) leads change their score, stage or last activity (a third each)."""
    with engine.begin() as conn:
        return conn.execute(text(CHANGE_SQL), {"at": at, "slot": slot % 20}).rowcount


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


ARRANGE_SQL = """
WITH inserted AS (
INSERT INTO campaign_enrolments (campaign_id, lead_id, broker_id, enrolled_at, enrolled_run_id, last_step_number,
                                 last_step_at, contacts_made, status)
SELECT q.campaign_id, l.id, q.broker_id,
       CAST(:run_at AS timestamptz) - (q.delay + CASE WHEN q.step_number = 1 THEN 0 ELSE 24 END) * interval '1 hour',
       :tag, q.step_number - 1,
       CASE WHEN q.step_number = 1 THEN NULL ELSE CAST(:run_at AS timestamptz) - q.delay * interval '1 hour' END,
       0, 'ACTIVE'
FROM unnest(CAST(:cids AS bigint[]), CAST(:brokers AS bigint[]), CAST(:steps AS int[]), CAST(:delays AS float8[]),
            CAST(:quotas AS int[])) AS q(campaign_id, broker_id, step_number, delay, quota)
CROSS JOIN LATERAL (
    SELECT l.id FROM leads l
    WHERE l.broker_id = q.broker_id AND l.id % 200 <> 37
      AND NOT EXISTS (SELECT 1 FROM campaign_enrolments e WHERE e.campaign_id = q.campaign_id AND e.lead_id = l.id)
    ORDER BY (l.id * 7919 + q.campaign_id * 104729 + :salt) % 1000003
    LIMIT q.quota
) l
RETURNING campaign_id
)
SELECT campaign_id, count(*) FROM inserted GROUP BY campaign_id
"""


def arrange_due(engine: Engine, run_at: datetime, steps_wanted: int, tag: str, salt: int = 0) -> dict[str, int]:
    """Insert ACTIVE enrolments whose next step falls due exactly at ``run_at``, ~``steps_wanted`` steps in all.

    Set-based: one INSERT ... SELECT, leads drawn per campaign from its broker in a pseudo-random order,
    skipping malformed leads (they would be set aside) and pairs already enrolled.
    """
    positions = due_positions(engine)
    per_enrolment = sum(p[4] for p in positions)
    quota = max(1, round(steps_wanted / per_enrolment)) if per_enrolment else 0
    chain = {p[0]: p[4] for p in positions}
    with engine.begin() as conn:
        per_campaign = dict(conn.execute(text(ARRANGE_SQL), {
            "run_at": run_at, "tag": tag, "salt": salt,
            "cids": [p[0] for p in positions], "brokers": [p[1] for p in positions],
            "steps": [p[2] for p in positions], "delays": [p[3] for p in positions],
            "quotas": [quota] * len(positions),
        }).all())
        conn.exec_driver_sql("ANALYZE campaign_enrolments")
    return {"enrolments": sum(per_campaign.values()),
            "expected_steps": sum(n * chain[cid] for cid, n in per_campaign.items()),
            "campaigns": len(per_campaign)}
