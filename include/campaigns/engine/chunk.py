"""One chunk of enrolments and everything their steps read, loaded under the chunk's row locks."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from include.campaigns.domain.pipelines import Pipelines, load_pipelines
from include.campaigns.domain.meeting_slots import AgentCalendar
from include.campaigns.engine.due import Step
from include.campaigns.engine.run import RunContext
from include.campaigns.infra.database import SqlFolder, fetch_dicts, fetch_tuples, fetch_with_columns, sql_list

SQL = SqlFolder(__file__)
AGENT_LOCK_NAMESPACE = 7_316_002
CLAIMED_ENROLMENT_COLUMNS = 7  # claim_chunk.sql: the enrolment's columns and `quiet`, then the lead's row

_CAMPAIGNS = "SELECT id, broker_id, name, channel, max_contacts, goal FROM campaigns WHERE id = ANY(%(ids)s)"
_STEPS = ("SELECT campaign_id, step_number, action, delay_hours, message_template_id, conditions, config "
          "FROM campaign_steps WHERE campaign_id = ANY(:ids) ORDER BY campaign_id, step_number")
_BY_ID = "SELECT * FROM {table} WHERE id = ANY(%(ids)s)"
_BUSY = ("SELECT agent_id, starts_at, ends_at FROM appointments "
         "WHERE agent_id = ANY(%(ids)s) AND ends_at > %(since)s ORDER BY agent_id, starts_at")


@dataclass
class Enrolment:
    campaign_id: int
    lead_id: int
    last_step_number: int
    anchor_at: datetime  # when the last step ran, or the enrolment time
    contacts_made: int
    pending: list[int] = field(default_factory=list)
    status: str = "ACTIVE"
    touched: bool = False
    error: str | None = None  # an engine error set the enrolment aside (status ERROR) at this step
    error_step: int | None = None
    quiet: bool = False  # the run time is inside the campaign's quiet hours for this lead


@dataclass(frozen=True)
class FrequencyCap:
    channel: str | None  # None: every channel
    max_contacts: int
    per_hours: int


@dataclass
class ChunkData:
    enrolments: list[Enrolment]
    campaigns: dict[int, dict[str, Any]]
    steps: dict[int, dict[int, Step]]
    leads: dict[int, dict[str, Any]]
    templates: dict[int, dict[str, Any]]
    agents: dict[int, dict[str, Any]]
    brokers: dict[int, dict[str, Any]]
    pipelines: Pipelines = field(default_factory=dict)
    caps: dict[int, list[FrequencyCap]] = field(default_factory=dict)  # broker -> its frequency caps
    recent_contacts: dict[int, list[tuple[str, datetime]]] = field(default_factory=dict)  # lead -> (channel, when)

    def steps_of(self, campaign_id: int) -> dict[int, Step]:
        return self.steps.get(campaign_id, {})


def _rows(conn: Connection, sql: str, ids: list[int]) -> dict[int, dict[str, Any]]:
    return {r["id"]: r for r in fetch_dicts(conn, sql, {"ids": ids})}


def load_chunk(conn: Connection, run: RunContext, chunk_no: int, contact_actions: tuple[str, ...]) -> ChunkData:
    """Claim the chunk's enrolments (``FOR UPDATE SKIP LOCKED``) and read what their steps need."""
    columns, claimed = fetch_with_columns(conn, SQL.source("claim_chunk"),
                                          {"run_id": run.run_id, "chunk_no": chunk_no, "run_at": run.run_at})
    lead_columns = columns[CLAIMED_ENROLMENT_COLUMNS:]  # the rest of a claimed row: the lead's own
    lead_id_at = CLAIMED_ENROLMENT_COLUMNS + lead_columns.index("id")
    enrolments: list[Enrolment] = []
    leads: dict[int, dict[str, Any]] = {}
    for row in claimed:
        campaign_id, lead_id, enrolled_at, last_step, last_step_at, contacts, quiet = row[:CLAIMED_ENROLMENT_COLUMNS]
        enrolments.append(Enrolment(campaign_id, lead_id, last_step, last_step_at or enrolled_at, contacts,
                                    quiet=bool(quiet)))
        if row[lead_id_at] is not None and lead_id not in leads:  # None: the lead was deleted
            leads[lead_id] = dict(zip(lead_columns, row[CLAIMED_ENROLMENT_COLUMNS:]))
    campaign_ids = sorted({e.campaign_id for e in enrolments})
    campaigns = _rows(conn, _CAMPAIGNS, campaign_ids)
    steps: dict[int, dict[int, Step]] = defaultdict(dict)
    for r in conn.execute(text(_STEPS), {"ids": campaign_ids}).mappings():
        steps[r["campaign_id"]][r["step_number"]] = Step(
            r["step_number"], r["action"], float(r["delay_hours"]), r["message_template_id"],
            r["conditions"] or {}, r["config"] or {})
    template_ids = sorted({s.message_template_id for per in steps.values() for s in per.values()
                           if s.message_template_id is not None})
    agent_ids = sorted({lead["assigned_agent_id"] for lead in leads.values() if lead["assigned_agent_id"]})
    broker_ids = sorted({c["broker_id"] for c in campaigns.values()})
    return ChunkData(
        enrolments, campaigns, dict(steps), leads,
        templates=_rows(conn, _BY_ID.format(table="message_templates"), template_ids),
        agents=_rows(conn, _BY_ID.format(table="agents"), agent_ids),
        brokers=_rows(conn, _BY_ID.format(table="brokers"), broker_ids),
        pipelines=load_pipelines(conn, broker_ids),
        **load_frequency(conn, run, broker_ids, sorted(leads), contact_actions),
    )


def load_frequency(conn: Connection, run: RunContext, broker_ids: list[int], lead_ids: list[int],
                   contact_actions: tuple[str, ...]) -> dict[str, Any]:
    """The brokers' frequency caps and the leads' SENT contacts inside the longest cap window."""
    caps: dict[int, list[FrequencyCap]] = defaultdict(list)
    for r in conn.execute(SQL("frequency_caps"), {"ids": broker_ids}):
        caps[r.broker_id].append(FrequencyCap(r.channel, r.max_contacts, r.per_hours))
    recent: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
    hours = max((c.per_hours for per in caps.values() for c in per), default=0)
    if hours and lead_ids:
        sql = SQL.templated("recent_contacts", contact_actions=sql_list(contact_actions))
        for r in conn.execute(sql, {"lead_ids": lead_ids, "run_at": run.run_at, "hours": hours}):
            recent[r.lead_id].append((r.channel, r.executed_at))
    return {"caps": dict(caps), "recent_contacts": dict(recent)}


def lock_agents_and_load_busy(conn: Connection, agent_ids: list[int], since: datetime) -> dict[int, AgentCalendar]:
    """Serialise bookings per agent (advisory locks, ascending), then read their bookings from ``since``."""
    if not agent_ids:
        return {}
    conn.execute(SQL("lock_agents"), {"ns": AGENT_LOCK_NAMESPACE, "ids": agent_ids})
    busy: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for agent_id, starts_at, ends_at in fetch_tuples(conn, _BUSY, {"ids": agent_ids, "since": since}):
        busy[agent_id].append((starts_at, ends_at))
    return {agent_id: AgentCalendar(bookings) for agent_id, bookings in busy.items()}
