"""A plain, obviously-correct evaluation of the contract's behaviour (CONTRACT.md section 4).

No SQL, no durable-rules, no code shared with the engine: the
inputs are Python lists of dicts (brokers, agents, leads, templates, campaigns, steps) and a list of
sweeps, each with the changes the CRM and the admins make before it. ``simulate`` walks the sweeps one
after the other and returns what the database must hold afterwards: the campaign_logs rows, the
enrolments, the stats per campaign, the leads' stages and the meetings booked.

It models the contract plus the choices the README documents where the contract is silent:

- a sweep looks at the leads as they are when it starts; leads failing the data-quality rules are set
  aside for that run (not evaluated, their due steps wait, their snapshot does not move);
- triggers (sweep): LEAD_SCORE score > threshold; STAGE_CHANGE the stage differs from the previous
  sweep's snapshot of the lead (a lead never seen before has none) and equals to_stage; INACTIVITY
  run time - last_activity_at >= days (never active: no); MANUAL never; only ACTIVE campaigns of the
  lead's broker; a (campaign, lead) pair is enrolled once, ever, at the run time;
- the snapshot a sweep leaves behind is the state of its valid leads when it started (a stage moved
  by an update_stage step is a change for the next sweep);
- step k is due at (time step k-1 ran, or the enrolment time) + delay_hours of step k; a run executes
  every due step, so after the first one only zero-delay steps follow; every log row is stamped with
  the run time; only ACTIVE enrolments of ACTIVE campaigns run;
- per step: max_contacts (contact steps only: when the SENT send_message/make_call count already equals
  the limit, one SKIPPED max_contacts_reached row with no step number, and the enrolment STOPS) ->
  conditions (SKIPPED condition_not_met) -> do_not_contact (contact steps: SKIPPED do_not_contact) ->
  the action;
- send_message: the template must exist, belong to the campaign's broker (template_not_found), be
  active (template_inactive) and be of the campaign's channel (template_channel_mismatch); then the
  lead needs an address for the channel (no_email_address / no_phone_number); then the sandboxed Jinja
  render (render_error); then the (sandbox) provider, which refuses +1500555... numbers ("unreachable
  number") and e-mail at .invalid domains ("mailbox unavailable"): FAILED "provider_error: <why>";
- make_call: a phone first (no_phone_number), then the optional script template (exists/broker,
  active; no channel check), then the provider on the lead's phone;
- schedule_meeting: SENT, or FAILED no_assigned_agent; update_stage: SENT, the lead moves;
- an enrolment whose last step ran is COMPLETED; stats are the counts of the logs per status.

Between two campaigns of the same lead in the same run the contract fixes no order; this model runs
them campaign by campaign (ascending id). Data sets meant for an exact comparison must not let one
campaign's update_stage change what another campaign of the same lead sees in the same run (a stage
condition, or a second stage move); ``check_no_cross_campaign_stage_effects`` says whether they do.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment


CONTACT_ACTIONS = ("send_message", "make_call")
STAGES = ("new", "contacted", "qualified", "visit_scheduled", "negotiation", "won", "lost")  # the data set's pipeline
UNREACHABLE_PREFIX = "+1500555"
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
PHONE_RE = re.compile(r"^\+[1-9][0-9]{7,14}$")
_JINJA = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True)


@dataclass
class Sweep:
    """One hourly sweep and what changed since the previous one (applied, in this order, before it)."""

    run_id: str
    run_at: datetime
    new_leads: list[dict] = field(default_factory=list)
    lead_updates: dict[int, dict[str, Any]] = field(default_factory=dict)  # lead_id -> {column: value}
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
class Result:
    logs: list[tuple]  # (campaign_id, lead_id, step_number, action, status, reason, executed_at, run_id)
    enrolments: dict[tuple[int, int], Enrolment]
    stats: dict[int, tuple[int, int, int]]  # campaign_id -> (sent, failed, skipped)
    lead_stages: dict[int, str]
    meetings: set[tuple[int, int, int, int]]  # (campaign_id, lead_id, step_number, agent_id)
    rejected: dict[str, set[int]]  # run_id -> lead ids set aside by that run
    cross_campaign_stage_effects: list[tuple[str, int]]  # (run_id, lead_id) where order between campaigns mattered


# -- the lead as the rules see it -----------------------------------------------------------------
def is_valid(lead: Mapping[str, Any], run_at: datetime) -> bool:
    """The data-quality gate: a lead the engine must set aside for this run fails one of these."""
    score, stage, email, phone = lead.get("score"), lead.get("stage"), lead.get("email"), lead.get("phone")
    last = lead.get("last_activity_at")
    return (
        lead.get("broker_id") is not None
        and score is not None and 0 <= score <= 100
        and stage in STAGES
        and (email is None or EMAIL_RE.match(email) is not None)
        and (phone is None or PHONE_RE.match(phone) is not None)
        and (last is None or last <= run_at)
    )


def trigger_met(campaign: Mapping[str, Any], lead: Mapping[str, Any], previous_stage: str | None,
                run_at: datetime) -> bool:
    cfg = campaign["trigger_config"]
    kind = campaign["trigger_type"]
    if kind == "LEAD_SCORE":
        return lead["score"] is not None and lead["score"] > cfg["threshold"]
    if kind == "STAGE_CHANGE":
        return previous_stage is not None and previous_stage != lead["stage"] and lead["stage"] == cfg["to_stage"]
    if kind == "INACTIVITY":
        last = lead["last_activity_at"]
        return last is not None and run_at - last >= timedelta(days=cfg["days"])
    return False  # MANUAL: only through a run with params


def facts(lead: Mapping[str, Any], run_at: datetime) -> dict[str, Any]:
    last = lead["last_activity_at"]
    return {
        "score": lead["score"],
        "stage": lead["stage"],
        "days_inactive": None if last is None else (run_at - last).total_seconds() / 86400,
        "has_email": bool(lead["email"]),
        "has_phone": bool(lead["phone"]),
        "has_agent": lead["assigned_agent_id"] is not None,
    }


def condition_holds(op: str, actual: Any, expected: Any) -> bool:
    if actual is None:  # a missing value satisfies only "is not" tests
        return op in ("ne", "not_in") and expected is not None
    return {
        "eq": lambda: actual == expected, "ne": lambda: actual != expected,
        "gt": lambda: actual > expected, "gte": lambda: actual >= expected,
        "lt": lambda: actual < expected, "lte": lambda: actual <= expected,
        "in": lambda: actual in expected, "not_in": lambda: actual not in expected,
    }[op]()


def conditions_met(conditions: Mapping[str, Mapping[str, Any]], lead_facts: Mapping[str, Any]) -> bool:
    return all(condition_holds(op, lead_facts[name], value)
               for name, tests in conditions.items() for op, value in tests.items())


def render(source: str, lead, campaign, agent, broker) -> str:
    full_name = lead["full_name"] or ""
    context = {
        "lead": {"id": lead["id"], "full_name": full_name, "first_name": full_name.split(" ")[0] if full_name else "",
                 "email": lead["email"], "phone": lead["phone"], "stage": lead["stage"], "score": lead["score"]},
        "campaign": {"id": campaign["id"], "name": campaign["name"], "channel": campaign["channel"]},
        "agent": {k: (agent or {}).get(k) or "" for k in ("full_name", "email", "phone")},
        "broker": {"id": broker["id"] if broker else None, "name": (broker or {}).get("name") or ""},
    }
    return _JINJA.from_string(source).render(**context)


def provider_refusal(channel: str, recipient: str) -> str | None:
    if channel == "email":
        return "mailbox unavailable" if recipient.lower().endswith(".invalid") else None
    return "unreachable number" if recipient.startswith(UNREACHABLE_PREFIX) else None


# -- the simulation ---------------------------------------------------------------------------------
class Reference:
    def __init__(self, *, brokers: Iterable[dict], agents: Iterable[dict], leads: Iterable[dict],
                 templates: Iterable[dict], campaigns: Iterable[dict], steps: Iterable[dict],
                 snapshots: Mapping[int, str] | None = None) -> None:
        self.brokers = {b["id"]: dict(b) for b in brokers}
        self.agents = {a["id"]: dict(a) for a in agents}
        self.leads = {lead["id"]: dict(lead) for lead in leads}
        self.templates = {t["id"]: dict(t) for t in templates}
        self.campaigns = {c["id"]: dict(c) for c in campaigns}
        self.steps: dict[int, list[dict]] = {cid: [] for cid in self.campaigns}
        for s in sorted(steps, key=lambda s: (s["campaign_id"], s["step_number"])):
            self.steps[s["campaign_id"]].append(dict(s))
        self.snapshots: dict[int, str] = dict(snapshots or {})  # lead_id -> stage at the previous sweep
        self.enrolments: dict[tuple[int, int], Enrolment] = {}
        self.logs: list[tuple] = []
        self.meetings: set[tuple[int, int, int, int]] = set()
        self.rejected: dict[str, set[int]] = {}
        self.cross_effects: list[tuple[str, int]] = []

    # one sweep ------------------------------------------------------------------------------------
    def sweep(self, s: Sweep) -> None:
        for lead in s.new_leads:
            self.leads[lead["id"]] = dict(lead)
        for lead_id, values in s.lead_updates.items():
            self.leads[lead_id].update(values)
        for cid, status in s.campaign_status.items():
            self.campaigns[cid]["status"] = status

        valid = {lid for lid, lead in self.leads.items() if is_valid(lead, s.run_at)}
        self.rejected[s.run_id] = set(self.leads) - valid

        # evaluate + enrol: every valid lead against every ACTIVE automatic campaign of its broker
        for lid in sorted(valid):
            lead = self.leads[lid]
            for cid, c in sorted(self.campaigns.items()):
                if c["status"] != "ACTIVE" or c["broker_id"] != lead["broker_id"] or (cid, lid) in self.enrolments:
                    continue
                if trigger_met(c, lead, self.snapshots.get(lid), s.run_at):
                    self.enrolments[(cid, lid)] = Enrolment(cid, lid, s.run_at)
        # the snapshot the next sweep compares with: the valid leads as this sweep found them
        for lid in valid:
            self.snapshots[lid] = self.leads[lid]["stage"]

        moved_by: dict[int, set[int]] = {}  # lead -> campaigns that moved its stage in this run
        stage_read_by: dict[int, set[int]] = {}  # lead -> campaigns whose conditions read its stage
        for (cid, lid), e in sorted(self.enrolments.items()):
            if e.status != "ACTIVE" or self.campaigns[cid]["status"] != "ACTIVE" or lid not in valid:
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
        lead = self.leads[e.lead_id]
        for step in self._due(e, s.run_at):
            action = step["action"]
            contact = action in CONTACT_ACTIONS
            if contact and campaign["max_contacts"] is not None and e.contacts_made >= campaign["max_contacts"]:
                self._log(e, None, "SKIPPED", "max_contacts_reached", s)
                e.status = "STOPPED"
                return
            if "stage" in step["conditions"]:
                stage_read_by.setdefault(e.lead_id, set()).add(e.campaign_id)
            if not conditions_met(step["conditions"], facts(lead, s.run_at)):
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
                lead["stage"] = step["config"]["stage"]
                moved_by.setdefault(e.lead_id, set()).add(e.campaign_id)
                status, reason = "SENT", None
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
            rejected={k: set(v) for k, v in self.rejected.items()},
            cross_campaign_stage_effects=list(self.cross_effects),
        )


def simulate(*, brokers, agents, leads, templates, campaigns, steps, sweeps: Iterable[Sweep],
             snapshots: Mapping[int, str] | None = None) -> Result:
    """Run ``sweeps`` in order on the given data; the inputs are not modified."""
    ref = Reference(brokers=brokers, agents=agents, leads=copy.deepcopy(list(leads)), templates=templates,
                    campaigns=copy.deepcopy(list(campaigns)), steps=steps, snapshots=snapshots)
    for s in sweeps:
        ref.sweep(s)
    return ref.result()
