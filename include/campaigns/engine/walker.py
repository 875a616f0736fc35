"""Walk a loaded chunk's chains of due steps, one wave of steps at a time, batching deliveries per channel.

Per enrolment, before any step: its campaign's goal (the lead is in a goal stage: one ``goal_reached`` entry,
the enrolment ends). Per step, in this order: ``max_contacts`` (FA-4) -> quiet hours (a contact step inside
them is deferred: no log, the enrolment waits for a later run) -> ``conditions`` -> ``do_not_contact`` ->
frequency caps (``frequency_capped``: skipped, the lead goes on) -> the action. Pure apart from the adapters it
calls: everything it decides is in ``ChunkOutcome`` for the writer.

Data problems and provider answers are the step's log (``FAILED`` with the reason). An unexpected exception
is an error of the engine, not of the lead: it writes no log, the enrolment is set aside (status ERROR,
with the error) and the rest of the chunk goes on; ``engine_errors`` lists them for the task to report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from include.campaigns.channels import ChannelAdapter
from include.campaigns.domain import vocabulary as v
from include.campaigns.domain.conditions import conditions_met, lead_facts, stages_named
from include.campaigns.domain.pipelines import stage_problem
from include.campaigns.engine.actions import Action
from include.campaigns.engine.actions.base import Deliver, Done, SideEffects, StepContext
from include.campaigns.domain.meeting_slots import AgentCalendar, WorkingHours
from include.campaigns.engine.chunk import ChunkData, Enrolment
from include.campaigns.engine.frequency import FrequencyCounter
from include.campaigns.engine.due import Step, due_chain
from include.campaigns.engine.logs import LogRow
from include.campaigns.engine.run import RunContext


@dataclass(frozen=True)
class EngineError:
    campaign_id: int
    lead_id: int
    step_number: int
    error: str


@dataclass
class ChunkOutcome:
    logs: list[LogRow] = field(default_factory=list)
    effects: SideEffects = field(default_factory=SideEffects)
    engine_errors: list[EngineError] = field(default_factory=list)


Waiting = tuple[Enrolment, Step, Deliver]


class ChunkWalker:
    def __init__(self, run: RunContext, data: ChunkData, actions: Mapping[str, Action],
                 hours: WorkingHours) -> None:
        self.run, self.data, self.actions, self.hours = run, data, actions, hours
        self.adapters: Mapping[str, ChannelAdapter] = {}
        self.busy: dict[int, AgentCalendar] = {}
        self.out = ChunkOutcome()
        self.deferred = 0  # contact steps deferred by quiet hours
        self._channels: dict[tuple[int, str], str | None] = {}
        self.caps = FrequencyCounter(run.run_at, data.caps, data.recent_contacts)
        ordered = {campaign_id: [steps[n] for n in sorted(steps)] for campaign_id, steps in data.steps.items()}
        self._last_number = {campaign_id: steps[-1].number for campaign_id, steps in ordered.items() if steps}
        chains: dict[tuple[int, int, datetime], list[int]] = {}  # most of a chunk's enrolments share one: those
        for e in data.enrolments:                                 # enrolled, or moved on, in the same run
            key = (e.campaign_id, e.last_step_number, e.anchor_at)
            chain = chains.get(key)
            if chain is None:
                chain = chains[key] = due_chain(e.last_step_number, e.anchor_at, ordered.get(e.campaign_id, []),
                                                run.run_at)
            e.pending = list(chain)

    def _pending_steps(self):
        for e in self.data.enrolments:
            steps = self.data.steps_of(e.campaign_id)
            for n in e.pending:
                yield e, steps[n]

    def agents_to_lock(self) -> list[int]:
        """The assigned agents of leads with a meeting to book in this chunk."""
        agents = {(self.data.leads.get(e.lead_id) or {}).get("assigned_agent_id")
                  for e, step in self._pending_steps() if step.action == "schedule_meeting"}
        return sorted(a for a in agents if a is not None)

    def channels_needed(self) -> list[str]:
        """Channels whose adapter some due step may call: loaded (and checked) before anything runs."""
        needed = set()
        for e, step in self._pending_steps():
            action = self.actions.get(step.action)
            channel = action.channel(self.data.campaigns[e.campaign_id]) if action else None
            if channel:
                needed.add(channel)
        return sorted(needed)

    def execute(self) -> ChunkOutcome:
        for e in self.data.enrolments:  # a lead already in a goal stage ends its enrolment before any step
            self._goal_reached(e)
        while wave := [e for e in self.data.enrolments if e.pending and e.status == "ACTIVE"]:
            waiting: dict[str, list[Waiting]] = defaultdict(list)
            for e in wave:
                step = self.data.steps[e.campaign_id][e.pending.pop(0)]
                try:
                    result = self._run_step(e, step)
                except Exception as exc:  # the engine's own error: recoverable, never a log
                    self._set_aside(e, step, exc)
                    continue
                if isinstance(result, Deliver):
                    waiting[result.message.channel].append((e, step, result))
            for channel, items in waiting.items():
                self._deliver(channel, items)
        for e in self.data.enrolments:
            if e.status == "ACTIVE" and e.touched and e.last_step_number >= self._last_number.get(e.campaign_id, 0):
                e.status = "COMPLETED"
        return self.out

    def _channel(self, e: Enrolment, step: Step | None) -> str | None:
        """The channel a step's log carries: the one its action uses (none for meetings and stage moves)."""
        if step is None:
            return None
        key = (e.campaign_id, step.action)
        if key not in self._channels:
            action = self.actions.get(step.action)
            self._channels[key] = action.channel(self.data.campaigns[e.campaign_id]) if action else None
        return self._channels[key]

    def _log(self, e: Enrolment, step: Step | None, done: Done, channel_of: Step | None = None) -> None:
        channel = done.channel or self._channel(e, step or channel_of)
        self.out.logs.append(LogRow(
            e.campaign_id, e.lead_id, step.number if step else None, step.action if step else None, done.status,
            done.reason, self.run.run_at, self.run.run_id, channel, self.data.campaigns[e.campaign_id]["broker_id"]))

    def _done(self, e: Enrolment, step: Step, done: Done) -> None:
        self._log(e, step, done)
        e.last_step_number, e.anchor_at, e.touched = step.number, self.run.run_at, True
        action = self.actions.get(step.action)
        if done.status == "SENT" and action is not None and action.contact:
            e.contacts_made += 1

    def _goal_reached(self, e: Enrolment) -> bool:
        lead = self.data.leads.get(e.lead_id)
        goal = self.data.campaigns[e.campaign_id].get("goal") or {}
        if e.status != "ACTIVE" or lead is None or lead["stage"] not in (goal.get("stages") or ()):
            return False
        self._log(e, None, Done("SKIPPED", v.GOAL_REACHED))
        e.status, e.pending, e.touched = "STOPPED", [], True  # ended before its last step, like max_contacts
        return True

    def _set_aside(self, e: Enrolment, step: Step, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        e.status, e.pending, e.touched, e.error, e.error_step = "ERROR", [], True, error, step.number
        self.out.engine_errors.append(EngineError(e.campaign_id, e.lead_id, step.number, error))

    def _run_step(self, e: Enrolment, step: Step) -> Deliver | None:
        campaign, lead = self.data.campaigns[e.campaign_id], self.data.leads.get(e.lead_id)
        if lead is None:  # deleted from the CRM since it was enrolled
            self._log(e, None, Done("SKIPPED", v.LEAD_NOT_FOUND))
            e.status, e.pending, e.touched = "STOPPED", [], True
            return None
        if self._goal_reached(e):  # e.g. an earlier step of this run moved the lead into a goal stage
            return None
        action = self.actions.get(step.action)
        if action is None:
            self._done(e, step, Done("FAILED", f"unknown_action: {step.action}"))
            return None
        limit = campaign["max_contacts"]
        if action.contact and limit is not None and e.contacts_made >= limit:
            self._log(e, None, Done("SKIPPED", v.MAX_CONTACTS_REACHED), channel_of=step)
            e.status, e.pending, e.touched = "STOPPED", [], True
            return None
        if action.contact and e.quiet:  # deferred, never dropped: it is still due in the next runs
            e.pending = []
            self.deferred += 1
            return None
        for stage in stages_named(step.conditions):
            problem = stage_problem(self.data.pipelines, campaign["broker_id"], stage)
            if problem:
                self._done(e, step, Done("FAILED", f"{problem} (in the step's conditions)"))
                return None
        if step.conditions and not conditions_met(step.conditions, lead_facts(lead, self.run.run_at)):
            self._done(e, step, Done("SKIPPED", v.CONDITION_NOT_MET))
            return None
        if action.contact and lead["do_not_contact"]:
            self._done(e, step, Done("SKIPPED", v.DO_NOT_CONTACT))
            return None
        channel = action.channel(campaign)
        if action.contact and not self.caps.allows(campaign["broker_id"], e.lead_id, channel):
            self._done(e, step, Done("SKIPPED", v.FREQUENCY_CAPPED))
            return None
        result = action.run(StepContext(self.run, e, step, self.data, self.out.effects, self.hours, self.busy))
        if action.contact and isinstance(result, Deliver):  # counted now: another campaign of the lead in this
            self.caps.record(e.lead_id, channel)          # wave must see it (a failed send keeps its slot)
        if isinstance(result, Done):
            self._done(e, step, result)
            return None
        return result

    def _deliver(self, channel: str, items: Sequence[Waiting]) -> None:
        try:
            results = {r.idempotency_key: r for r in self.adapters[channel].deliver([d.message for _, _, d in items])}
        except Exception as exc:  # the whole provider is down: every message of the batch failed
            results, error = {}, f"provider_error: {type(exc).__name__}: {exc}"
        else:
            error = "provider_error: no answer for this message"
        for e, step, d in items:
            r = results.get(d.message.idempotency_key)
            if r is not None and r.ok:
                self._done(e, step, Done("SENT", None, channel))
            else:
                self._done(e, step, Done("FAILED", f"provider_error: {r.error}" if r is not None else error, channel))
