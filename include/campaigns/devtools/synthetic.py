"""The one synthetic data generator, shared by the demo and the benchmark: brokers with their own pipelines,
agents, templates, leads and (where asked) the snapshot a previous sweep would have left.

Deterministic: one numpy PCG64 generator, seeded, drawn in a fixed order; every timestamp derives from
``Shape.reference_time``; which leads are malformed is a pure function of the id (``InvalidRule``). The
same ``Shape`` on the same (empty or equal) tables gives byte-identical rows. Vectorised and written with
COPY, so a million leads load in seconds. The demo and the benchmark differ only by their ``Shape`` and
their campaign specs (``campaign_specs.py``).

With rows already in the tables (the demo's ``--keep``) the new ones take the ids after them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np
from sqlalchemy import Connection, text

from include.campaigns.devtools import synthetic_leads
from include.campaigns.devtools.synthetic_catalogue import (
    FIRST_NAMES, LAST_NAMES, PROFILES, ROLES, TEMPLATE_SLOTS, TEMPLATES, BrokerProfile, Vocabulary, VOCABULARIES,
)
from include.campaigns.devtools.synthetic_leads import InvalidRule, ascii_lower, copy_text
from include.campaigns.domain.vocabulary import CHANNELS

REFERENCE_TIME = datetime(2026, 11, 25, 10, tzinfo=timezone.utc)
DEFAULT_INVALID_SHARE = 0.005
COPY_CHUNK = 100_000
LEADS_PER_AGENT = 200  # meetings need free slots


@dataclass(frozen=True)
class Shape:
    """What to generate. ``snapshot_share``: the share of valid leads a previous sweep (one hour before
    ``reference_time``) saw, ~7 % of them one stage earlier; 0 = no snapshot (the engine takes its own)."""

    leads: int
    brokers: int
    seed: int = 6
    invalid_share: float = DEFAULT_INVALID_SHARE
    reference_time: datetime = REFERENCE_TIME
    snapshot_share: float = 0.0
    snapshot_run_id: str = "synthetic-seed"
    broker_name: str | None = None  # a format with {id}; None = the profile's own name

    def __post_init__(self) -> None:
        if self.leads < 0 or self.brokers < 1:
            raise ValueError("need leads >= 0 and brokers >= 1")
        if not 0 <= self.snapshot_share <= 1:
            raise ValueError("snapshot_share must be between 0 and 1")
        InvalidRule(self.invalid_share)  # checks the share

    @property
    def invalid(self) -> InvalidRule:
        return InvalidRule(self.invalid_share)

    @property
    def agents_per_broker(self) -> int:
        return max(5, math.ceil(self.leads / self.brokers / LEADS_PER_AGENT))


@dataclass
class World:
    """The brokers as written: ids, profiles, vocabularies, and where their agents and templates start."""

    broker_ids: list[int]
    profiles: list[BrokerProfile]
    vocabularies: list[Vocabulary]
    first_agent: list[int]  # per broker position: its first agent id
    agents_per_broker: int
    first_template: int  # template ids before this broker set's
    counts: dict[str, int] = field(default_factory=dict)

    def position(self, broker_id: int) -> int:
        return self.broker_ids.index(broker_id)

    def stage(self, broker_id: int, role: str) -> str:
        """The broker's word for a funnel role (a neighbour's where its pipeline has none)."""
        return self.vocabularies[self.position(broker_id)].by_role[role]

    def pipeline(self, broker_id: int) -> tuple[str, ...] | None:
        """The broker's ``pipeline_stages``, in order; None for a broker without rows."""
        vocabulary = self.vocabularies[self.position(broker_id)]
        return vocabulary.stages if vocabulary.stored else None

    def template_id(self, broker_id: int, channel: str, slot: int) -> int:
        """Slots 0 and 1 are active, 2 is inactive."""
        return (self.first_template + self.position(broker_id) * len(CHANNELS) * TEMPLATE_SLOTS
                + CHANNELS.index(channel) * TEMPLATE_SLOTS + slot + 1)

    def stage_rows(self) -> list[tuple[int, int, str, bool]]:
        """(broker_id, position, stage, stored) for every broker, free-text vocabularies included."""
        return [(b, k, stage, v.stored) for b, v in zip(self.broker_ids, self.vocabularies)
                for k, stage in enumerate(v.stages, start=1)]

    def stage_words(self) -> np.ndarray:
        """(broker position, role index) -> word, for vectorised lookups."""
        return np.array([[v.by_role[r] for r in ROLES] for v in self.vocabularies], dtype=object)


def _max_id(conn: Connection, table: str) -> int:
    return conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one()


def write_world(conn: Connection, shape: Shape, rng: np.random.Generator) -> World:
    """Brokers, their pipelines, agents and templates (ids after any rows already there)."""
    b0, a0, t0 = (_max_id(conn, t) for t in ("brokers", "agents", "message_templates"))
    n, apb = shape.brokers, shape.agents_per_broker
    profiles = [PROFILES[k % len(PROFILES)] for k in range(n)]
    world = World(broker_ids=[b0 + k + 1 for k in range(n)], profiles=profiles,
                  vocabularies=[VOCABULARIES[p.vocabulary] for p in profiles],
                  first_agent=[a0 + k * apb + 1 for k in range(n)], agents_per_broker=apb, first_template=t0)
    conn.execute(text("INSERT INTO brokers (id, name, timezone) VALUES (:id, :name, :tz)"),
                 [{"id": b, "name": shape.broker_name.format(id=b) if shape.broker_name else p.name,
                   "tz": p.timezone} for b, p in zip(world.broker_ids, profiles)])
    stages = [(b, s, k) for b, k, s, stored in world.stage_rows() if stored]
    if stages:
        copy_text(conn, "pipeline_stages", ("broker_id", "stage", "position"), synthetic_leads.rows_text(stages))
    agents = []
    first, last = rng.integers(0, len(FIRST_NAMES), n * apb), rng.integers(0, len(LAST_NAMES), n * apb)
    number = rng.integers(0, 10 ** 9, n * apb)
    for k in range(n * apb):
        p = profiles[k // apb]
        fn, ln = FIRST_NAMES[first[k]], LAST_NAMES[last[k]]
        phone = p.phone_prefix + f"{number[k] % 10 ** p.subscriber_digits:0{p.subscriber_digits}d}"
        agents.append((a0 + k + 1, world.broker_ids[k // apb], f"{fn} {ln}",
                       f"{ascii_lower(fn)}.{ascii_lower(ln)}@{p.domain}", phone))
    copy_text(conn, "agents", ("id", "broker_id", "full_name", "email", "phone"), synthetic_leads.rows_text(agents))
    conn.execute(text("INSERT INTO message_templates (id, broker_id, channel, name, subject, body, is_active) "
                      "VALUES (:id, :broker_id, :channel, :name, :subject, :body, :is_active)"),
                 [{"id": world.template_id(b, ch, slot), "broker_id": b, "channel": ch, "name": name,
                   "subject": subject, "body": body, "is_active": slot < TEMPLATE_SLOTS - 1}
                  for b in world.broker_ids for ch in CHANNELS
                  for slot, (name, subject, body) in enumerate(TEMPLATES[ch])])
    world.counts.update(brokers=n, pipeline_stages=len(stages), agents=len(agents),
                        message_templates=n * len(CHANNELS) * TEMPLATE_SLOTS)
    return world


def write_dataset(conn: Connection, shape: Shape) -> World:
    """Everything but the campaigns, in the caller's transaction; ``World.counts`` = rows per table."""
    rng = np.random.Generator(np.random.PCG64(shape.seed))
    world = write_world(conn, shape, rng)
    l0 = _max_id(conn, "leads")
    words = world.stage_words()
    captured = shape.reference_time - timedelta(hours=1)
    world.counts.update(leads=0, lead_snapshots=0)
    for start in range(0, shape.leads, COPY_CHUNK):
        chunk = synthetic_leads.draw(shape, world, words, l0, start, min(shape.leads, start + COPY_CHUNK), rng)
        world.counts["leads"] += copy_text(conn, "leads", synthetic_leads.LEAD_COLUMNS, chunk.leads_text())
        if shape.snapshot_share:
            world.counts["lead_snapshots"] += copy_text(conn, "lead_snapshots", synthetic_leads.SNAPSHOT_COLUMNS,
                                                        chunk.snapshot_text(captured, shape.snapshot_run_id))
    return world
