"""What an action is: ``run(ctx) -> Done | Deliver``, given the step's context.

An action decides one step from what the chunk loaded (no database or network of its own): ``Done`` is the
step's outcome; ``Deliver`` hands a message to its channel's adapter, and the provider's answer becomes the
outcome. Side effects the chunk writes in its transaction (a stage move, an appointment) are recorded on
the context. A data problem (no template, no address, an unknown stage) is a ``Done("FAILED", reason)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from include.campaigns.channels.base import OutboundMessage
from include.campaigns.domain.meeting_slots import AgentCalendar, WorkingHours
from include.campaigns.engine.chunk import ChunkData, Enrolment
from include.campaigns.engine.due import Step
from include.campaigns.engine.run import RunContext
from include.campaigns.templates import template_context


@dataclass(frozen=True)
class Done:
    status: str  # SENT | FAILED | SKIPPED
    reason: str | None = None
    channel: str | None = None


@dataclass(frozen=True)
class Deliver:
    message: OutboundMessage


@dataclass(frozen=True)
class StageMove:
    lead_id: int
    from_stage: str | None
    to_stage: str
    campaign_id: int
    step_number: int


@dataclass(frozen=True)
class Appointment:
    broker_id: int
    lead_id: int
    agent_id: int
    starts_at: datetime
    ends_at: datetime
    campaign_id: int
    step_number: int


@dataclass
class SideEffects:
    """What the chunk writes besides logs and cursors, in its transaction."""

    stage_moves: list[StageMove] = field(default_factory=list)
    appointments: list[Appointment] = field(default_factory=list)


@dataclass
class StepContext:
    run: RunContext
    enrolment: Enrolment
    step: Step
    chunk: ChunkData
    effects: SideEffects
    hours: WorkingHours
    busy: dict[int, AgentCalendar]  # agent -> its calendar while the chunk books

    @property
    def campaign(self) -> dict[str, Any]:
        return self.chunk.campaigns[self.enrolment.campaign_id]

    @property
    def lead(self) -> dict[str, Any]:
        return self.chunk.leads[self.enrolment.lead_id]

    @property
    def broker(self) -> dict[str, Any]:
        return self.chunk.brokers.get(self.campaign["broker_id"], {})

    def template(self) -> tuple[dict[str, Any] | None, str | None]:
        """The step's template, or why it cannot be used (FA-1)."""
        tid = self.step.message_template_id
        tpl = self.chunk.templates.get(tid) if tid is not None else None
        if tpl is None or tpl["broker_id"] != self.campaign["broker_id"]:
            return None, "template_not_found"
        if not tpl["is_active"]:
            return None, "template_inactive"
        return tpl, None

    def render_context(self) -> dict[str, Any]:
        agent_id = self.lead["assigned_agent_id"]
        agent = self.chunk.agents.get(agent_id) if agent_id else None
        return template_context(self.lead, self.campaign, agent, self.broker)

    def message(self, channel: str, recipient: str, body: str, subject: str | None = None,
                language: str | None = None) -> OutboundMessage:
        e = self.enrolment
        return OutboundMessage(
            idempotency_key=f"{e.campaign_id}:{e.lead_id}:{self.step.number}", channel=channel, recipient=recipient,
            body=body, subject=subject, campaign_id=e.campaign_id, lead_id=e.lead_id, step_number=self.step.number,
            requested_at=self.run.run_at, broker_id=self.campaign["broker_id"], language=language)


class Action(Protocol):
    name: str
    contact: bool  # counts towards max_contacts; skipped for do_not_contact leads

    def channel(self, campaign: dict[str, Any]) -> str | None:
        """The delivery channel whose adapter the step needs (None: no provider)."""

    def run(self, ctx: StepContext) -> Done | Deliver: ...
