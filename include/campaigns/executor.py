"""Execute the due steps of one chunk of enrolments, exactly once.

One transaction per chunk:
1. claim the chunk's enrolments with ``FOR UPDATE SKIP LOCKED`` (a concurrent run skips
   them; a crashed worker's locks vanish with its connection, so a retry can claim again);
2. re-check what is due under the lock, walk each enrolment's chain of due steps in
   memory, calling the channel adapters in batches, one "wave" of steps at a time;
3. write logs + stats, the enrolment cursors, stage moves and appointments, and commit.

A crash before the commit leaves no trace but the provider's own record, and the provider
sees the same idempotency key again on the retry, so nothing is sent twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, text

from include.campaigns import domain
from include.campaigns.channels import ChannelAdapter, OutboundMessage, load_adapters
from include.campaigns.conditions import conditions_met, lead_facts
from include.campaigns.db import copy_rows, statement, temp_table_like
from include.campaigns.logs import LogRow, write_logs
from include.campaigns.meetings import WorkingHours, next_free_slot, zone
from include.campaigns.planning import Step, due_chain
from include.campaigns.run import RunContext
from include.campaigns.templates import TemplateRenderError, render, template_context

AGENT_LOCK_NAMESPACE = 7_316_002
MEETING_LENGTH = timedelta(minutes=60)


@dataclass
class Enrolment:
    campaign_id: int
    lead_id: int
    last_step_number: int
    anchor_at: datetime
    contacts_made: int
    pending: list[int] = field(default_factory=list)
    status: str = "ACTIVE"
    touched: bool = False


@dataclass
class ChunkData:
    enrolments: list[Enrolment]
    campaigns: dict[int, dict[str, Any]]
    steps: dict[int, dict[int, Step]]
    leads: dict[int, dict[str, Any]]
    templates: dict[int, dict[str, Any]]
    agents: dict[int, dict[str, Any]]
    brokers: dict[int, dict[str, Any]]


@dataclass
class ChunkOutcome:
    logs: list[LogRow] = field(default_factory=list)
    stage_moves: list[tuple[int, str | None, str, int, int]] = field(default_factory=list)  # lead, from, to, campaign, step
    appointments: list[tuple[int, int, int, datetime, int, int]] = field(default_factory=list)  # broker, lead, agent, start, campaign, step


def _rows(conn: Connection, sql: str, **params: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(text(sql), params).mappings()]


def load_chunk(conn: Connection, run: RunContext, chunk_no: int) -> ChunkData:
    claimed = conn.execute(statement("claim_chunk"), {"run_id": run.run_id, "chunk_no": chunk_no}).all()
    enrolments = [
        Enrolment(r.campaign_id, r.lead_id, r.last_step_number, r.last_step_at or r.enrolled_at, r.contacts_made)
        for r in claimed
    ]
    campaign_ids = sorted({e.campaign_id for e in enrolments})
    lead_ids = sorted({e.lead_id for e in enrolments})
    campaigns = {r["id"]: r for r in _rows(conn, "SELECT id, broker_id, name, channel, max_contacts FROM campaigns "
                                                 "WHERE id = ANY(:ids)", ids=campaign_ids)}
    steps: dict[int, dict[int, Step]] = defaultdict(dict)
    for r in _rows(conn, "SELECT campaign_id, step_number, action, delay_hours, message_template_id, conditions, "
                         "config FROM campaign_steps WHERE campaign_id = ANY(:ids) ORDER BY campaign_id, step_number",
                   ids=campaign_ids):
        steps[r["campaign_id"]][r["step_number"]] = Step(
            r["step_number"], r["action"], float(r["delay_hours"]), r["message_template_id"],
            r["conditions"] or {}, r["config"] or {},
        )
    leads = {r["id"]: r for r in _rows(conn, "SELECT * FROM leads WHERE id = ANY(:ids)", ids=lead_ids)}
    template_ids = sorted({s.message_template_id for per in steps.values() for s in per.values()
                           if s.message_template_id is not None})
    templates = {r["id"]: r for r in _rows(conn, "SELECT * FROM message_templates WHERE id = ANY(:ids)",
                                           ids=template_ids)}
    agent_ids = sorted({lead["assigned_agent_id"] for lead in leads.values() if lead["assigned_agent_id"]})
    agents = {r["id"]: r for r in _rows(conn, "SELECT * FROM agents WHERE id = ANY(:ids)", ids=agent_ids)}
    broker_ids = sorted({c["broker_id"] for c in campaigns.values()})
    brokers = {r["id"]: r for r in _rows(conn, "SELECT * FROM brokers WHERE id = ANY(:ids)", ids=broker_ids)}
    return ChunkData(enrolments, campaigns, dict(steps), leads, templates, agents, brokers)


class ChunkExecutor:
    """Walks the due chains of a loaded chunk; pure apart from the adapters it calls."""

    def __init__(self, run: RunContext, data: ChunkData, adapters: Mapping[str, ChannelAdapter],
                 busy_slots: dict[int, set[datetime]], hours: WorkingHours) -> None:
        self.run = run
        self.data = data
        self.adapters = adapters
        self.busy = busy_slots
        self.hours = hours
        self.out = ChunkOutcome()

    # -- planning -------------------------------------------------------------------------
    def plan(self) -> None:
        for e in self.data.enrolments:
            ordered = [self.data.steps.get(e.campaign_id, {})[n] for n in sorted(self.data.steps.get(e.campaign_id, {}))]
            e.pending = due_chain(e.last_step_number, e.anchor_at, ordered, self.run.run_at)

    def agents_to_lock(self) -> list[int]:
        ids = set()
        for e in self.data.enrolments:
            steps = self.data.steps.get(e.campaign_id, {})
            if any(steps[n].action == "schedule_meeting" for n in e.pending):
                agent = self.data.leads[e.lead_id]["assigned_agent_id"]
                if agent is not None:
                    ids.add(agent)
        return sorted(ids)

    # -- execution --------------------------------------------------------------------------
    def execute(self) -> ChunkOutcome:
        while True:
            wave = [e for e in self.data.enrolments if e.pending and e.status == "ACTIVE"]
            if not wave:
                break
            deliveries: dict[str, list[tuple[Enrolment, Step, OutboundMessage]]] = defaultdict(list)
            for e in wave:
                step = self.data.steps[e.campaign_id][e.pending.pop(0)]
                self._run_step(e, step, deliveries)
            for channel, items in deliveries.items():
                self._deliver(channel, items)
        for e in self.data.enrolments:
            steps = self.data.steps.get(e.campaign_id, {})
            if e.status == "ACTIVE" and e.touched and not any(n > e.last_step_number for n in steps):
                e.status = "COMPLETED"
        return self.out

    def _log(self, e: Enrolment, step: Step | None, status: str, reason: str | None, channel: str | None = None) -> None:
        campaign = self.data.campaigns[e.campaign_id]
        self.out.logs.append(LogRow(
            e.campaign_id, e.lead_id, step.number if step else None, step.action if step else None, status, reason,
            self.run.run_at, self.run.run_id, channel, campaign["broker_id"],
        ))

    def _done(self, e: Enrolment, step: Step, status: str, reason: str | None, channel: str | None = None) -> None:
        self._log(e, step, status, reason, channel)
        e.last_step_number = step.number
        e.anchor_at = self.run.run_at
        e.touched = True
        if status == "SENT" and step.action in domain.CONTACT_ACTIONS:
            e.contacts_made += 1

    def _run_step(self, e: Enrolment, step: Step, deliveries) -> None:
        campaign = self.data.campaigns[e.campaign_id]
        lead = self.data.leads[e.lead_id]
        contact = step.action in domain.CONTACT_ACTIONS
        limit = campaign["max_contacts"]
        if contact and limit is not None and e.contacts_made >= limit:
            self._log(e, None, "SKIPPED", domain.MAX_CONTACTS_REACHED)
            e.status, e.pending, e.touched = "STOPPED", [], True
            return
        if not conditions_met(step.conditions, lead_facts(lead, self.run.run_at)):
            self._done(e, step, "SKIPPED", domain.CONDITION_NOT_MET)
            return
        if contact and lead["do_not_contact"]:
            self._done(e, step, "SKIPPED", domain.DO_NOT_CONTACT)
            return
        actions = {
            "send_message": lambda: self._prepare_message(e, step, campaign, lead, deliveries),
            "make_call": lambda: self._prepare_call(e, step, campaign, lead, deliveries),
            "schedule_meeting": lambda: self._book_meeting(e, step, campaign, lead),
            "update_stage": lambda: self._move_stage(e, step, lead),
        }
        action = actions.get(step.action)
        if action is None:  # the schema's CHECK makes this unreachable; keep the failure explicit anyway
            self._done(e, step, "FAILED", f"unknown_action: {step.action}")
            return
        try:
            action()
        except Exception as exc:  # one step's bad data must not stop the chunk's other leads
            self._done(e, step, "FAILED", f"action_error: {type(exc).__name__}: {exc}")

    def _context(self, campaign, lead) -> dict[str, Any]:
        agent = self.data.agents.get(lead["assigned_agent_id"]) if lead["assigned_agent_id"] else None
        return template_context(lead, campaign, agent, self.data.brokers.get(campaign["broker_id"]))

    def _message(self, e: Enrolment, step: Step, channel: str, recipient: str, body: str, subject: str | None):
        return OutboundMessage(
            idempotency_key=f"{e.campaign_id}:{e.lead_id}:{step.number}", channel=channel, recipient=recipient,
            body=body, subject=subject, campaign_id=e.campaign_id, lead_id=e.lead_id, step_number=step.number,
            requested_at=self.run.run_at,
        )

    def _template(self, step: Step, campaign) -> tuple[dict | None, str | None]:
        tpl = self.data.templates.get(step.message_template_id) if step.message_template_id is not None else None
        if tpl is None or tpl["broker_id"] != campaign["broker_id"]:
            return None, "template_not_found"
        if not tpl["is_active"]:
            return None, "template_inactive"
        return tpl, None

    def _prepare_message(self, e, step, campaign, lead, deliveries) -> None:
        channel = campaign["channel"]
        tpl, problem = self._template(step, campaign)
        if problem is None and tpl["channel"] != channel:
            problem = f"template_channel_mismatch: template is {tpl['channel']}, campaign is {channel}"
        if problem:
            self._done(e, step, "FAILED", problem, channel)
            return
        recipient = lead["email"] if channel == "email" else lead["phone"]
        if not recipient:
            self._done(e, step, "FAILED", "no_email_address" if channel == "email" else "no_phone_number", channel)
            return
        try:
            context = self._context(campaign, lead)
            body = render(tpl["body"], context)
            subject = render(tpl["subject"], context) if channel == "email" and tpl["subject"] else None
        except TemplateRenderError as exc:
            self._done(e, step, "FAILED", f"render_error: {exc}", channel)
            return
        deliveries[channel].append((e, step, self._message(e, step, channel, recipient, body, subject)))

    def _prepare_call(self, e, step, campaign, lead, deliveries) -> None:
        if not lead["phone"]:
            self._done(e, step, "FAILED", "no_phone_number", "voice")
            return
        script = ""
        if step.message_template_id is not None:
            tpl, problem = self._template(step, campaign)
            if problem:
                self._done(e, step, "FAILED", problem, "voice")
                return
            try:
                script = render(tpl["body"], self._context(campaign, lead))
            except TemplateRenderError as exc:
                self._done(e, step, "FAILED", f"render_error: {exc}", "voice")
                return
        deliveries["voice"].append((e, step, self._message(e, step, "voice", lead["phone"], script, None)))

    def _deliver(self, channel: str, items: Sequence[tuple[Enrolment, Step, OutboundMessage]]) -> None:
        try:
            results = {r.idempotency_key: r for r in self.adapters[channel].deliver([m for _, _, m in items])}
        except Exception as exc:  # the whole provider is down: every message of the batch failed
            results = {}
            error = f"provider_error: {type(exc).__name__}: {exc}"
        else:
            error = "provider_error: no answer for this message"
        for e, step, msg in items:
            r = results.get(msg.idempotency_key)
            if r is not None and r.ok:
                self._done(e, step, "SENT", None, channel)
            else:
                self._done(e, step, "FAILED", f"provider_error: {r.error}" if r is not None else error, channel)

    def _book_meeting(self, e, step, campaign, lead) -> None:
        agent = lead["assigned_agent_id"]
        if agent is None:
            self._done(e, step, "FAILED", "no_assigned_agent")
            return
        tz = zone(lead.get("timezone") or self.data.brokers.get(campaign["broker_id"], {}).get("timezone"))
        busy = self.busy.setdefault(agent, set())
        start = next_free_slot(self.run.run_at, busy, tz, self.hours)
        busy.add(start)
        self.out.appointments.append((campaign["broker_id"], e.lead_id, agent, start, e.campaign_id, step.number))
        self._done(e, step, "SENT", None)

    def _move_stage(self, e, step, lead) -> None:
        target = step.config.get("stage")
        if target not in domain.STAGES:
            self._done(e, step, "FAILED", f"invalid_stage: {target!r}")
            return
        self.out.stage_moves.append((e.lead_id, lead["stage"], target, e.campaign_id, step.number))
        lead["stage"] = target  # later steps (and conditions) see the new stage
        self._done(e, step, "SENT", None)


def _lock_agents_and_load_busy(conn: Connection, agent_ids: list[int], since: datetime) -> dict[int, set[datetime]]:
    if not agent_ids:
        return {}
    conn.execute(statement("lock_agents"), {"ns": AGENT_LOCK_NAMESPACE, "ids": agent_ids})
    busy: dict[int, set[datetime]] = defaultdict(set)
    for agent_id, starts_at in conn.execute(
        text("SELECT agent_id, starts_at FROM appointments WHERE agent_id = ANY(:ids) AND starts_at >= :since"),
        {"ids": agent_ids, "since": since},
    ):
        busy[agent_id].add(starts_at)
    return busy


def _write_outcome(conn: Connection, run: RunContext, data: ChunkData, out: ChunkOutcome) -> dict[str, int]:
    written = write_logs(conn, out.logs)
    touched = [e for e in data.enrolments if e.touched]
    if touched:
        temp_table_like(conn, "enrolment_progress", "campaign_id bigint, lead_id bigint, last_step_number int, "
                        "last_step_at timestamptz, contacts_made int, status text")
        copy_rows(conn, "enrolment_progress",
                  ("campaign_id", "lead_id", "last_step_number", "last_step_at", "contacts_made", "status"),
                  ((e.campaign_id, e.lead_id, e.last_step_number, e.anchor_at, e.contacts_made, e.status)
                   for e in touched))
        conn.execute(statement("save_enrolment_progress"), {"run_at": run.run_at})
    if out.stage_moves:
        final = {}
        for lead_id, _from, to, _c, _s in out.stage_moves:
            final[lead_id] = to
        ids = sorted(final)
        conn.execute(text("SELECT id FROM leads WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"), {"ids": ids})
        conn.execute(
            text("UPDATE leads l SET stage = v.stage, updated_at = :run_at "
                 "FROM unnest(CAST(:ids AS bigint[]), CAST(:stages AS text[])) AS v(id, stage) WHERE l.id = v.id"),
            {"ids": ids, "stages": [final[i] for i in ids], "run_at": run.run_at},
        )
        copy_rows(conn, "lead_stage_history",
                  ("lead_id", "from_stage", "to_stage", "changed_at", "campaign_id", "step_number", "run_id"),
                  ((lead, frm, to, run.run_at, c, s, run.run_id) for lead, frm, to, c, s in out.stage_moves))
    if out.appointments:
        copy_rows(conn, "appointments",
                  ("broker_id", "lead_id", "agent_id", "starts_at", "ends_at", "campaign_id", "step_number", "run_id",
                   "created_at"),
                  ((b, lead, a, start, start + MEETING_LENGTH, c, s, run.run_id,
                    run.run_at) for b, lead, a, start, c, s in out.appointments))
    return written


def execute_chunk(engine: Engine, run: RunContext, chunk_no: int, hours: WorkingHours | None = None,
                  adapters: Mapping[str, ChannelAdapter] | None = None) -> dict[str, Any]:
    """Run every due step of the chunk's enrolments; return counts of what was claimed and written."""
    adapters = adapters or load_adapters(engine)
    hours = hours or WorkingHours()
    with engine.begin() as conn:
        data = load_chunk(conn, run, chunk_no)
        executor = ChunkExecutor(run, data, adapters, {}, hours)
        executor.plan()
        executor.busy = _lock_agents_and_load_busy(conn, executor.agents_to_lock(), run.run_at)
        outcome = executor.execute()
        written = _write_outcome(conn, run, data, outcome)
    return {
        "chunk_no": chunk_no,
        "claimed": len(data.enrolments),
        "steps_logged": sum(written.values()),
        **{k.lower(): v for k, v in written.items()},
        "completed": sum(1 for e in data.enrolments if e.status == "COMPLETED"),
        "stopped": sum(1 for e in data.enrolments if e.status == "STOPPED"),
    }
