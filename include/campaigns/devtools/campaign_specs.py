"""Campaign specs for synthetic data, written per broker in the broker's own words.

A spec never names a stage: it names a funnel role (``Role("qualified")``) wherever a stage goes -- a
STAGE_CHANGE ``to_stage``, an ``update_stage`` config, a stage condition -- and each broker's campaign gets
that broker's word for it (``World.stage``). A template is a slot (0 and 1 active, ``"inactive"``) or
``"missing"`` (an id no template has, FA-1); a slot may depend on the broker's position
(``{1: "inactive", None: 0}``: the first broker gets the inactive template, the others slot 0).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from include.campaigns.devtools.synthetic import World
from include.campaigns.devtools.synthetic_catalogue import ROLES

Slot = int | str | None | Mapping[int | None, int | str | None]


@dataclass(frozen=True)
class Role:
    """Where a stage goes in a spec: the broker's word for this funnel role."""

    name: str

    def __post_init__(self) -> None:
        if self.name not in ROLES:
            raise ValueError(f"unknown role {self.name!r} (roles: {', '.join(ROLES)})")


@dataclass(frozen=True)
class StepSpec:
    action: str
    delay_hours: float = 0
    template: Slot = None
    conditions: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CampaignSpec:
    """``broker``: the broker's position (0-based); ``created_at``: also its updated_at."""

    broker: int
    name: str
    channel: str
    trigger_type: str
    trigger_config: Mapping[str, Any]
    steps: Sequence[StepSpec]
    status: str = "ACTIVE"
    max_contacts: int | None = None
    created_at: datetime | None = None


def in_words(value: Any, world: World, broker_id: int) -> Any:
    """``value`` with every Role replaced by the broker's stage word (dicts and lists walked)."""
    if isinstance(value, Role):
        return world.stage(broker_id, value.name)
    if isinstance(value, Mapping):
        return {k: in_words(v, world, broker_id) for k, v in value.items()}
    if isinstance(value, (list, tuple)):  # two roles may share a word: each word once
        return list(dict.fromkeys(in_words(v, world, broker_id) for v in value))
    return value


def template_id(slot: Slot, world: World, broker_id: int, channel: str, missing_id: int) -> int | None:
    if isinstance(slot, Mapping):
        position = world.position(broker_id) + 1
        slot = slot.get(position, slot.get(None))
    if slot is None:
        return None
    if slot == "missing":
        return missing_id
    return world.template_id(broker_id, channel, 2 if slot == "inactive" else int(slot))


def write_campaigns(conn: Connection, world: World, specs: Sequence[CampaignSpec], *,
                    missing_template_id: int) -> dict[str, int]:
    """Insert the campaigns (ids after the existing ones, the identity moved past them) and their steps."""
    first = conn.execute(text("SELECT coalesce(max(id), 0) FROM campaigns")).scalar_one()
    campaigns, steps = [], []
    for k, spec in enumerate(specs):
        cid, broker_id = first + k + 1, world.broker_ids[spec.broker]
        campaigns.append({"id": cid, "broker_id": broker_id, "name": spec.name, "channel": spec.channel,
                          "trigger_type": spec.trigger_type, "status": spec.status,
                          "trigger_config": json.dumps(in_words(spec.trigger_config, world, broker_id)),
                          "max_contacts": spec.max_contacts, "created_at": spec.created_at})
        for n, step in enumerate(spec.steps, start=1):
            steps.append({"campaign_id": cid, "step_number": n, "action": step.action,
                          "delay_hours": step.delay_hours,
                          "message_template_id": template_id(step.template, world, broker_id, spec.channel,
                                                             missing_template_id),
                          "conditions": json.dumps(in_words(step.conditions, world, broker_id)),
                          "config": json.dumps(in_words(step.config, world, broker_id))})
    if not campaigns:
        return {"campaigns": 0, "campaign_steps": 0}
    conn.execute(text("INSERT INTO campaigns (id, broker_id, name, channel, trigger_type, trigger_config, status,"
                      " max_contacts, created_at, updated_at) VALUES (:id, :broker_id, :name, :channel,"
                      " :trigger_type, CAST(:trigger_config AS jsonb), :status, :max_contacts,"
                      " coalesce(CAST(:created_at AS timestamptz), now()),"
                      " coalesce(CAST(:created_at AS timestamptz), now()))"), campaigns)
    conn.execute(text("INSERT INTO campaign_steps (campaign_id, step_number, action, delay_hours,"
                      " message_template_id, conditions, config) VALUES (:campaign_id, :step_number, :action,"
                      " :delay_hours, :message_template_id, CAST(:conditions AS jsonb), CAST(:config AS jsonb))"),
                 steps)
    conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('campaigns', 'id'), (SELECT max(id) FROM campaigns))")
    return {"campaigns": len(campaigns), "campaign_steps": len(steps)}
