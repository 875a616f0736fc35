"""The reference's sweeps: which leads a sweep reads, who enrols, and the walk of the due steps."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tests.reference_model.rules import (
    CONTACT_ACTIONS, READ_COLUMNS, conditions_met, facts, provider_refusal, reject_reasons, render, stage_problem,
    stages_in, trigger_met,
)


@dataclass
class Sweep:
    """One hourly sweep and what changed since the previous one (applied, in this order, before it)."""

    run_id: str
    run_at: datetime
    new_leads: list[dict] = field(default_factory=list)
    lead_updates: dict[int, dict[str, Any]] = field(default_factory=dict)  # lead_id -> {column: value}
    deleted_leads: list[int] = field(default_factory=list)
    pipelines: dict[int, list[str]] = field(default_factory=dict)  # broker_id -> its whole new pipeline ([] = none)
    campaign_status: dict[int, str] = field(default_factory=dict)  # campaign_id -> new status


@dataclass
class Enrolment:
    campaign_id: int
    lead_id: int
    enrolled_at: datetime
    last_step_number: int = 0
    last_step_at: datetime | None = None
    contacts_made: int = 0
    status: str = "ACTIVE"


@dataclass
class Verdict:
    """What validation last read of a lead (its columns and its broker's pipeline) and what it found."""

    read: tuple
    reasons: list[str]
    recheck_at: datetime | None  # set aside for activity in the future: read again from then on


@dataclass
class Result:
    logs: list[tuple]  # (campaign_id, lead_id, step_number, action, status, reason, executed_at, run_id)
    enrolments: dict[tuple[int, int], Enrolment]
    stats: dict[int, tuple[int, int, int]]  # campaign_id -> (sent, failed, skipped)
    lead_stages: dict[int, str]
    meetings: set[tuple[int, int, int, int]]  # (campaign_id, lead_id, step_number, agent_id)
    rejected: dict[str, dict[int, list[str]]]  # run_id -> {lead id read and set aside by that run: reasons}
    cross_campaign_stage_effects: list[tuple[str, int]]  # (run_id, lead_id) where order between campaigns mattered



class Reference:
    def __init__(self, *, brokers: Iterable[dict], pipelines: Mapping[int, Sequence[str]], agents: Iterable[dict],
                 leads: Iterable[dict], templates: Iterable[dict], campaigns: Iterable[dict],
                 steps: Iterable[dict]) -> None:
        self.brokers = {b["id"]: dict(b) for b in brokers}
        self.pipelines = {b: tuple(stages) for b, stages in pipelines.items() if stages}
        self.agents = {a["id"]: dict(a) for a in agents}
        self.leads = {lead["id"]: dict(lead) for lead in leads}
        self.templates = {t["id"]: dict(t) for t in templates}
        self.campaigns = {c["id"]: dict(c) for c in campaigns}
        self.steps: dict[int, list[dict]] = {cid: [] for cid in self.campaigns}
        for s in sorted(steps, key=lambda s: (s["campaign_id"], s["step_number"])):
            self.steps[s["campaign_id"]].append(dict(s))
        self.verdicts: dict[int, Verdict] = {}  # lead_id -> its last reading (kept when the CRM deletes it)
        self.previous_stage: dict[int, str] = {}  # lead_id -> stage at the last sweep that found it valid
        self.enrolments: dict[tuple[int, int], Enrolment] = {}
        self.logs: list[tuple] = []
        self.meetings: set[tuple[int, int, int, int]] = set()
        self.rejected: dict[str, dict[int, list[str]]] = {}
        self.cross_effects: list[tuple[str, int]] = []

    def pipeline(self, broker_id: int) -> tuple[str, ...]:
        return self.pipelines.get(broker_id, ())

    def is_set_aside(self, lead_id: int) -> bool:
        """The lead's row was set aside when last read (a row the CRM deleted is no longer set aside)."""
        return lead_id in self.leads and bool(self.verdicts[lead_id].reasons)

    # one sweep ------------------------------------------------------------------------------------
    def sweep(self, s: Sweep) -> None:
        for lead in s.new_leads:
            self.leads[lead["id"]] = dict(lead)
        for lead_id, values in s.lead_updates.items():
            self.leads[lead_id].update(values)
        for lead_id in s.deleted_leads:
            del self.leads[lead_id]
        for broker_id, stages in s.pipelines.items():
            self.pipelines[broker_id] = tuple(stages)
        for cid, status in s.campaign_status.items():
            self.campaigns[cid]["status"] = status

        self.rejected[s.run_id] = {}
        for lid, lead in sorted(self.leads.items()):
            pipeline = self.pipeline(lead["broker_id"])
            read = (tuple(lead[k] for k in READ_COLUMNS), frozenset(pipeline))
            last = self.verdicts.get(lid)
            if last is None or last.read != read or (last.recheck_at is not None and last.recheck_at <= s.run_at):
                reasons = reject_reasons(lead, pipeline, s.run_at)
                future = lead["last_activity_at"] if "activity_in_future" in reasons else None
                self.verdicts[lid] = Verdict(read, reasons, future)
                if reasons:
                    self.rejected[s.run_id][lid] = reasons
        valid = sorted(lid for lid in self.leads if not self.is_set_aside(lid))

        # evaluate + enrol: every valid lead against every ACTIVE automatic campaign of its broker
        for lid in valid:
            lead = self.leads[lid]
            for cid, c in sorted(self.campaigns.items()):
                if c["status"] != "ACTIVE" or c["broker_id"] != lead["broker_id"] or (cid, lid) in self.enrolments:
                    continue
                if trigger_met(c, lead, self.previous_stage.get(lid), s.run_at):
                    self.enrolments[(cid, lid)] = Enrolment(cid, lid, s.run_at)
        for lid in valid:  # what the next sweep compares with: the valid leads as this sweep found them
            self.previous_stage[lid] = self.leads[lid]["stage"]

        moved_by: dict[int, set[int]] = {}  # lead -> campaigns that moved its stage in this run
        stage_read_by: dict[int, set[int]] = {}  # lead -> campaigns whose conditions read its stage
        for (cid, lid), e in sorted(self.enrolments.items()):
            if e.status != "ACTIVE" or self.campaigns[cid]["status"] != "ACTIVE" or self.is_set_aside(lid):
                continue
            self._walk(e, s, moved_by, stage_read_by)
        for lid, movers in moved_by.items():
            if len(movers) > 1 or stage_read_by.get(lid, set()) - movers:
                self.cross_effects.append((s.run_id, lid))

    def _due(self, e: Enrolment, run_at: datetime) -> list[dict]:
        due, anchor = [], e.last_step_at or e.enrolled_at
        for step in self.steps[e.campaign_id]:
            if step["step_number"] <= e.last_step_number:
                continue
            if anchor + timedelta(hours=float(step["delay_hours"])) > run_at:
                break
            due.append(step)
            anchor = run_at
        return due

    def _log(self, e: Enrolment, step: dict | None, status: str, reason: str | None, s: Sweep) -> None:
        self.logs.append((e.campaign_id, e.lead_id, step["step_number"] if step else None,
                          step["action"] if step else None, status, reason, s.run_at, s.run_id))

    def _walk(self, e: Enrolment, s: Sweep, moved_by, stage_read_by) -> None:
        campaign = self.campaigns[e.campaign_id]
        broker_id, pipeline = campaign["broker_id"], self.pipeline(campaign["broker_id"])
        lead = self.leads.get(e.lead_id)
        for step in self._due(e, s.run_at):
            action = step["action"]
            contact = action in CONTACT_ACTIONS
            if lead is None:
                self._log(e, None, "SKIPPED", "lead_not_found", s)
                e.status = "STOPPED"
                return
            if contact and campaign["max_contacts"] is not None and e.contacts_made >= campaign["max_contacts"]:
                self._log(e, None, "SKIPPED", "max_contacts_reached", s)
                e.status = "STOPPED"
                return
            named = stages_in(step["conditions"])
            foreign = [p for p in (stage_problem(pipeline, broker_id, stage) for stage in named) if p]
            if named and not foreign:
                stage_read_by.setdefault(e.lead_id, set()).add(e.campaign_id)
            if foreign:
                status, reason = "FAILED", f"{foreign[0]} (in the step's conditions)"
            elif not conditions_met(step["conditions"], facts(lead, s.run_at)):
                status, reason = "SKIPPED", "condition_not_met"
            elif contact and lead["do_not_contact"]:
                status, reason = "SKIPPED", "do_not_contact"
            elif action == "send_message":
                status, reason = self._send_message(step, campaign, lead)
            elif action == "make_call":
                status, reason = self._make_call(step, campaign, lead)
            elif action == "schedule_meeting":
                agent = lead["assigned_agent_id"]
                if agent is None:
                    status, reason = "FAILED", "no_assigned_agent"
                else:
                    status, reason = "SENT", None
                    self.meetings.add((e.campaign_id, e.lead_id, step["step_number"], agent))
            elif action == "update_stage":
                target = step["config"].get("stage")
                reason = stage_problem(pipeline, broker_id, target)
                status = "FAILED" if reason else "SENT"
                if not reason:
                    lead["stage"] = target
                    moved_by.setdefault(e.lead_id, set()).add(e.campaign_id)
            else:
                raise ValueError(f"unknown action {action!r}")
            self._log(e, step, status, reason, s)
            e.last_step_number, e.last_step_at = step["step_number"], s.run_at
            if status == "SENT" and contact:
                e.contacts_made += 1
        if e.status == "ACTIVE" and e.last_step_number == self.steps[e.campaign_id][-1]["step_number"]:
            e.status = "COMPLETED"

    def _template(self, step: dict, campaign: dict) -> tuple[dict | None, str | None]:
        tpl = self.templates.get(step["message_template_id"]) if step["message_template_id"] is not None else None
        if tpl is None or tpl["broker_id"] != campaign["broker_id"]:
            return None, "template_not_found"
        if not tpl["is_active"]:
            return None, "template_inactive"
        return tpl, None

    def _render(self, source: str, campaign: dict, lead: dict) -> str:
        agent = self.agents.get(lead["assigned_agent_id"]) if lead["assigned_agent_id"] is not None else None
        return render(source, lead, campaign, agent, self.brokers.get(campaign["broker_id"]))

    def _send_message(self, step, campaign, lead) -> tuple[str, str | None]:
        channel = campaign["channel"]
        tpl, problem = self._template(step, campaign)
        if problem:
            return "FAILED", problem
        if tpl["channel"] != channel:
            return "FAILED", f"template_channel_mismatch: template is {tpl['channel']}, campaign is {channel}"
        recipient = lead["email"] if channel == "email" else lead["phone"]
        if not recipient:
            return "FAILED", "no_email_address" if channel == "email" else "no_phone_number"
        try:
            self._render(tpl["body"], campaign, lead)
            if channel == "email" and tpl.get("subject"):
                self._render(tpl["subject"], campaign, lead)
        except Exception as exc:
            return "FAILED", f"render_error: {type(exc).__name__}: {exc}"
        refusal = provider_refusal(channel, recipient)
        return ("FAILED", f"provider_error: {refusal}") if refusal else ("SENT", None)

    def _make_call(self, step, campaign, lead) -> tuple[str, str | None]:
        if not lead["phone"]:
            return "FAILED", "no_phone_number"
        if step["message_template_id"] is not None:
            tpl, problem = self._template(step, campaign)
            if problem is None and tpl["channel"] != "voice":
                problem = f"template_channel_mismatch: template is {tpl['channel']}, a call script is voice"
            if problem:
                return "FAILED", problem
            try:
                self._render(tpl["body"], campaign, lead)
            except Exception as exc:
                return "FAILED", f"render_error: {type(exc).__name__}: {exc}"
        refusal = provider_refusal("voice", lead["phone"])
        return ("FAILED", f"provider_error: {refusal}") if refusal else ("SENT", None)

    # results --------------------------------------------------------------------------------------
    def result(self) -> Result:
        stats: dict[int, Counter] = {}
        for row in self.logs:
            stats.setdefault(row[0], Counter())[row[4]] += 1
        return Result(
            logs=list(self.logs),
            enrolments=copy.deepcopy(self.enrolments),
            stats={cid: (c["SENT"], c["FAILED"], c["SKIPPED"]) for cid, c in stats.items()},
            lead_stages={lid: lead["stage"] for lid, lead in self.leads.items()},
            meetings=set(self.meetings),
            rejected=copy.deepcopy(self.rejected),
            cross_campaign_stage_effects=list(self.cross_effects),
        )


def simulate(*, brokers, pipelines, agents, leads, templates, campaigns, steps, sweeps: Iterable[Sweep]) -> Result:
    """Run ``sweeps`` in order on the given data; the inputs are not modified."""
    ref = Reference(brokers=brokers, pipelines=pipelines, agents=agents, leads=copy.deepcopy(list(leads)),
                    templates=templates, campaigns=copy.deepcopy(list(campaigns)), steps=steps)
    for s in sweeps:
        ref.sweep(s)
    return ref.result()
