"""The reference's sweeps: which leads a sweep reads, who enrols, and the walk of the due steps."""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import replace
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta

from tests.reference_model.actions import Actions, Outcome
from tests.reference_model.records import Contact, Enrolment, LeadRun, Result, Sweep, Verdict
from tests.reference_model.rules import (
    CONTACT_ACTIONS, READ_COLUMNS, cap_covers, conditions_met, facts, in_goal, in_quiet_hours, reject_reasons,
    stage_problem, stages_in, step_channel, trigger_met,
)


class Reference:
    def __init__(self, *, brokers: Iterable[dict], pipelines: Mapping[int, Sequence[str]], agents: Iterable[dict],
                 leads: Iterable[dict], templates: Iterable[dict], campaigns: Iterable[dict],
                 steps: Iterable[dict], frequency_caps: Iterable[dict] = ()) -> None:
        self.brokers = {b["id"]: dict(b) for b in brokers}
        self.pipelines = {b: tuple(stages) for b, stages in pipelines.items() if stages}
        self.leads = {lead["id"]: dict(lead) for lead in leads}
        self.campaigns = {c["id"]: dict(c) for c in campaigns}
        self.steps: dict[int, list[dict]] = {cid: [] for cid in self.campaigns}
        for s in sorted(steps, key=lambda s: (s["campaign_id"], s["step_number"])):
            self.steps[s["campaign_id"]].append(dict(s))
        self.caps: dict[int, list[dict]] = {}
        for cap in frequency_caps:
            self.caps.setdefault(cap["broker_id"], []).append(dict(cap))
        self.actions = Actions({t["id"]: dict(t) for t in templates}, {a["id"]: dict(a) for a in agents}, self.brokers)
        self.verdicts: dict[int, Verdict] = {}  # lead_id -> its last reading (kept when the CRM deletes it)
        self.previous_stage: dict[int, str] = {}  # lead_id -> stage at the last sweep that found it valid
        self.enrolments: dict[tuple[int, int], Enrolment] = {}
        self.contacts: dict[int, list[Contact]] = {}  # lead_id -> the contacts handed to the provider
        self.logs: list[tuple] = []
        self.meetings: set[tuple[int, int, int, int]] = set()
        self.rejected: dict[str, dict[int, list[str]]] = {}
        self.deferred: list[tuple] = []
        self.goals: list[tuple] = []
        self.capped: list[tuple] = []
        self.max_in_quiet: list[tuple] = []
        self.cross_effects: list[tuple[str, int]] = []
        self.cap_order: list[tuple[str, int]] = []

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
        for broker_id, caps in s.frequency_caps.items():
            self.caps[broker_id] = [dict(cap, broker_id=broker_id) for cap in caps]

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

        walked: dict[int, list[Enrolment]] = {}  # lead -> its enrolments that run, campaigns in ascending id
        for (cid, lid), e in sorted(self.enrolments.items()):
            if e.status == "ACTIVE" and self.campaigns[cid]["status"] == "ACTIVE" and not self.is_set_aside(lid):
                walked.setdefault(lid, []).append(e)
        for lid, enrolments in sorted(walked.items()):
            self._walk_lead(lid, enrolments, s)

    def _walk_lead(self, lead_id: int, enrolments: list[Enrolment], s: Sweep) -> None:
        """The lead's campaigns one after the other (ascending id), each one's due steps in order."""
        lead = self.leads.get(lead_id)
        before = (dict(lead) if lead else None, [replace(e) for e in enrolments], list(self.contacts.get(lead_id, ())))
        run = LeadRun(self.leads.get(lead_id), self.contacts.setdefault(lead_id, []))
        for e in enrolments:
            for _ in self._walk(e, run, s):
                pass
        self.logs += run.logs
        self.meetings |= run.meetings
        self.deferred += run.deferred
        self.goals += run.goals
        self.capped += run.capped
        self.max_in_quiet += run.max_in_quiet
        # Where another order of the lead's campaigns could change the outcome: two campaigns moving its stage,
        # or one moving it while another reads it (conditions, or a goal the lead enters or leaves) ...
        seen = {stage for move in run.moves for stage in move}
        goal_flips = any(len({in_goal(self.campaigns[cid], stage) for stage in seen}) > 1
                         for cid in run.goal_walked - run.moved_by)
        if run.moves and (len(run.moved_by) > 1 or run.stage_read_by - run.moved_by or goal_flips):
            self.cross_effects.append((s.run_id, lead_id))
        # ... and, where the caps saw contacts of two campaigns, whether one step of each campaign at a time
        # (ascending id) ends otherwise
        if len(run.cap_checked) > 1 and not self._same_one_step_at_a_time(run, enrolments, before, s):
            self.cap_order.append((s.run_id, lead_id))

    def _same_one_step_at_a_time(self, run: LeadRun, enrolments: list[Enrolment], before: tuple,
                                 s: Sweep) -> bool:
        lead, others, contacts = before
        other = LeadRun(lead, contacts)
        walks = [self._walk(e, other, s) for e in others]
        while walks:
            walks = [w for w in walks if next(w, StopIteration) is not StopIteration]
        return (set(run.logs), run.meetings, run.lead, enrolments, set(run.contacts)) == (
            set(other.logs), other.meetings, other.lead, others, set(other.contacts))

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

    def _log(self, run: LeadRun, e: Enrolment, step: dict | None, status: str, reason: str | None, s: Sweep,
             channel: str | None = None) -> None:
        campaign = self.campaigns[e.campaign_id]
        run.logs.append((e.campaign_id, e.lead_id, step["step_number"] if step else None,
                         step["action"] if step else None, status, reason, s.run_at, s.run_id,
                         channel if step is None else step_channel(step["action"], campaign)))

    @staticmethod
    def _end(e: Enrolment, s: Sweep, status: str) -> None:
        e.status, e.finished_at = status, s.run_at

    def _quiet(self, campaign: dict, lead: dict | None, at: datetime) -> bool:
        """The run time is inside the campaign's quiet hours for the lead (its zone, else the broker's)."""
        zone = (lead or {}).get("timezone") or self.brokers[campaign["broker_id"]]["timezone"]
        return in_quiet_hours(campaign.get("quiet_hours"), at, zone)

    def _goal_reached(self, run: LeadRun, e: Enrolment, campaign: dict, s: Sweep, how: str, due: bool) -> bool:
        if run.lead is None or not in_goal(campaign, run.lead["stage"]):
            return False
        self._log(run, e, None, "SKIPPED", "goal_reached", s)
        self._end(e, s, "STOPPED")
        run.goals.append((s.run_id, e.campaign_id, e.lead_id, how, due))
        return True

    def _walk(self, e: Enrolment, run: LeadRun, s: Sweep) -> Iterator[None]:
        """One enrolment's walk; it pauses after the goal check and after each step (for another order)."""
        campaign = self.campaigns[e.campaign_id]
        due = self._due(e, s.run_at)
        if run.lead is not None and campaign.get("goal"):
            run.goal_walked.add(e.campaign_id)
        if self._goal_reached(run, e, campaign, s, "crm", bool(due)):  # before anything, a step due or not
            return
        moved_here = False
        for position, step in enumerate(due):
            yield
            if self._goal_reached(run, e, campaign, s, "own_step" if moved_here else "crm", True):
                return  # an earlier step of this run moved the lead into a goal stage
            lead, action = run.lead, step["action"]
            contact, channel = action in CONTACT_ACTIONS, step_channel(action, campaign)
            if lead is None:  # deleted from the CRM: its zone is the broker's, a contact step still waits
                if contact and self._quiet(campaign, None, s.run_at):
                    run.deferred.append((s.run_id, e.campaign_id, e.lead_id, step["step_number"], position > 0))
                    return
                self._log(run, e, None, "SKIPPED", "lead_not_found", s)
                self._end(e, s, "STOPPED")
                return
            if contact and campaign["max_contacts"] is not None and e.contacts_made >= campaign["max_contacts"]:
                if position == 0 and self._quiet(campaign, lead, s.run_at):
                    run.max_in_quiet.append((s.run_id, e.campaign_id, e.lead_id))
                self._log(run, e, None, "SKIPPED", "max_contacts_reached", s, channel)
                self._end(e, s, "STOPPED")
                return
            if contact and self._quiet(campaign, lead, s.run_at):  # deferred, never dropped: it stays due
                run.deferred.append((s.run_id, e.campaign_id, e.lead_id, step["step_number"], position > 0))
                return
            outcome = self._decide(run, e, step, campaign, s)
            if action == "update_stage" and outcome.status == "SENT":
                run.moves.append((lead["stage"], step["config"]["stage"]))
                run.moved_by.add(e.campaign_id)
                lead["stage"] = step["config"]["stage"]
                moved_here = True
            if outcome.queued:
                run.contacts.append(Contact(campaign["broker_id"], e.campaign_id, channel, s.run_at, s.run_id,
                                            outcome.status == "SENT"))
            self._log(run, e, step, outcome.status, outcome.reason, s)
            e.last_step_number, e.last_step_at = step["step_number"], s.run_at
            if outcome.status == "SENT" and contact:
                e.contacts_made += 1
        if e.status == "ACTIVE" and e.last_step_number == self.steps[e.campaign_id][-1]["step_number"]:
            self._end(e, s, "COMPLETED")

    def _capped(self, run: LeadRun, broker_id: int, channel: str, s: Sweep) -> list[Contact] | None:
        """The contacts that fill a cap of the broker covering ``channel`` (None: every cap has room): SENT
        ones within per_hours before the run time, and every one of this run."""
        for cap in self.caps.get(broker_id, ()):
            if not cap_covers(cap, channel):
                continue
            since = s.run_at - timedelta(hours=cap["per_hours"])
            counted = [c for c in run.contacts if c.broker_id == broker_id and cap_covers(cap, c.channel)
                       and c.at > since and (c.sent or c.run_id == s.run_id)]
            if len(counted) >= cap["max_contacts"]:
                return counted
        return None

    def _decide(self, run: LeadRun, e: Enrolment, step: dict, campaign: dict, s: Sweep) -> Outcome:
        """A due step past max_contacts and quiet hours: conditions -> do_not_contact -> caps -> the action."""
        broker_id, pipeline = campaign["broker_id"], self.pipeline(campaign["broker_id"])
        lead, action = run.lead, step["action"]
        contact = action in CONTACT_ACTIONS
        named = stages_in(step["conditions"])
        foreign = [p for p in (stage_problem(pipeline, broker_id, stage) for stage in named) if p]
        if named and not foreign:
            run.stage_read_by.add(e.campaign_id)
        if foreign:
            return Outcome("FAILED", f"{foreign[0]} (in the step's conditions)")
        if not conditions_met(step["conditions"], facts(lead, s.run_at)):
            return Outcome("SKIPPED", "condition_not_met")
        if contact and lead["do_not_contact"]:
            return Outcome("SKIPPED", "do_not_contact")
        if contact:
            channel = step_channel(action, campaign)
            if self.caps.get(broker_id):
                run.cap_checked.add(e.campaign_id)
            counted = self._capped(run, broker_id, channel, s)
            if counted is not None:
                others_now = any(c.run_id == s.run_id and c.campaign_id != e.campaign_id for c in counted)
                run.capped.append((s.run_id, e.campaign_id, e.lead_id, step["step_number"], channel, others_now))
                return Outcome("SKIPPED", "frequency_capped")
        if action == "send_message":
            return self.actions.send_message(step, campaign, lead)
        if action == "make_call":
            return self.actions.make_call(step, campaign, lead)
        if action == "schedule_meeting":
            agent = lead["assigned_agent_id"]
            if agent is None:
                return Outcome("FAILED", "no_assigned_agent")
            run.meetings.add((e.campaign_id, e.lead_id, step["step_number"], agent))
            return Outcome("SENT")
        if action == "update_stage":
            reason = stage_problem(pipeline, broker_id, step["config"].get("stage"))
            return Outcome("FAILED", reason) if reason else Outcome("SENT")
        raise ValueError(f"unknown action {action!r}")

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
            deferred=list(self.deferred),
            goals=list(self.goals),
            capped=list(self.capped),
            cross_campaign_stage_effects=list(self.cross_effects),
            cross_campaign_cap_order=list(self.cap_order),
            max_contacts_in_quiet_hours=list(self.max_in_quiet),
        )


def simulate(*, brokers, pipelines, agents, leads, templates, campaigns, steps, sweeps: Iterable[Sweep],
             frequency_caps: Iterable[dict] = ()) -> Result:
    """Run ``sweeps`` in order on the given data; the inputs are not modified."""
    ref = Reference(brokers=brokers, pipelines=pipelines, agents=agents, leads=copy.deepcopy(list(leads)),
                    templates=templates, campaigns=copy.deepcopy(list(campaigns)), steps=steps,
                    frequency_caps=frequency_caps)
    for s in sweeps:
        ref.sweep(s)
    return ref.result()
