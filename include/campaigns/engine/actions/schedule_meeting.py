"""schedule_meeting: book the lead's assigned agent at the next free slot, in the lead's time zone."""

from __future__ import annotations

from typing import Any

from include.campaigns.engine.actions.base import Appointment, Deliver, Done, StepContext
from include.campaigns.domain.meeting_slots import AgentCalendar, NoFreeSlot, UnknownTimezone, zone


class ScheduleMeeting:
    name = "schedule_meeting"
    contact = False

    def channel(self, campaign: dict[str, Any]) -> None:
        return None

    def run(self, ctx: StepContext) -> Done | Deliver:
        agent = ctx.lead["assigned_agent_id"]
        if agent is None:
            return Done("FAILED", "no_assigned_agent")
        try:
            tz = zone(ctx.lead.get("timezone") or ctx.broker.get("timezone"))
        except UnknownTimezone as exc:
            return Done("FAILED", f"unknown_timezone: {exc}")
        calendar = ctx.busy.setdefault(agent, AgentCalendar([]))
        try:
            start, end = calendar.book_next(ctx.run.run_at, tz, ctx.hours)
        except NoFreeSlot as exc:
            return Done("FAILED", f"no_free_slot: {exc}")
        e = ctx.enrolment
        ctx.effects.appointments.append(
            Appointment(ctx.campaign["broker_id"], e.lead_id, agent, start, end, e.campaign_id, ctx.step.number))
        return Done("SENT")


ACTION = ScheduleMeeting()
