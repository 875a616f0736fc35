"""The reference's inputs and outputs: a sweep and its changes, an enrolment, a lead's reading, a contact, one
lead's walk in one sweep, and the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


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
    frequency_caps: dict[int, list[dict]] = field(default_factory=dict)  # broker_id -> all its caps now


@dataclass
class Enrolment:
    campaign_id: int
    lead_id: int
    enrolled_at: datetime
    last_step_number: int = 0
    last_step_at: datetime | None = None
    contacts_made: int = 0
    status: str = "ACTIVE"
    finished_at: datetime | None = None


@dataclass
class Verdict:
    """What validation last read of a lead (its columns and its broker's pipeline) and what it found."""

    read: tuple
    reasons: list[str]
    recheck_at: datetime | None  # set aside for activity in the future: read again from then on


@dataclass(frozen=True)
class Contact:
    """A contact handed to the provider: caps count it at once in its run, and later only if it was SENT."""

    broker_id: int
    campaign_id: int
    channel: str
    at: datetime
    run_id: str
    sent: bool


@dataclass
class LeadRun:
    """One lead's walk in one sweep: its row and contacts (changed in place), what the walk writes, and what
    tells whether the order of its campaigns mattered."""

    lead: dict | None  # None: deleted from the CRM
    contacts: list[Contact]
    logs: list[tuple] = field(default_factory=list)
    meetings: set[tuple[int, int, int, int]] = field(default_factory=set)
    deferred: list[tuple] = field(default_factory=list)
    goals: list[tuple] = field(default_factory=list)
    capped: list[tuple] = field(default_factory=list)
    max_in_quiet: list[tuple] = field(default_factory=list)
    moves: list[tuple[str, str]] = field(default_factory=list)  # (from, to) stage moves
    moved_by: set[int] = field(default_factory=set)  # campaigns that moved the stage
    stage_read_by: set[int] = field(default_factory=set)  # campaigns whose conditions read it
    goal_walked: set[int] = field(default_factory=set)  # campaigns with a goal that were walked
    cap_checked: set[int] = field(default_factory=set)  # campaigns whose contact steps met the caps


@dataclass
class Result:
    logs: list[tuple]  # (campaign_id, lead_id, step_number, action, status, reason, executed_at, run_id, channel)
    enrolments: dict[tuple[int, int], Enrolment]
    stats: dict[int, tuple[int, int, int]]  # campaign_id -> (sent, failed, skipped)
    lead_stages: dict[int, str]
    meetings: set[tuple[int, int, int, int]]  # (campaign_id, lead_id, step_number, agent_id)
    rejected: dict[str, dict[int, list[str]]]  # run_id -> {lead id read and set aside by that run: reasons}
    deferred: list[tuple]  # (run_id, campaign_id, lead_id, step_number, after a step of the same run)
    goals: list[tuple]  # (run_id, campaign_id, lead_id, "crm" | "own_step", a step was due)
    capped: list[tuple]  # (run_id, campaign_id, lead_id, step_number, channel, a contact of another campaign
    #                      in the same run counted)
    cross_campaign_stage_effects: list[tuple[str, int]]  # (run_id, lead_id) where order between campaigns mattered
    cross_campaign_cap_order: list[tuple[str, int]]  # (run_id, lead_id) where it did, through a cap
    max_contacts_in_quiet_hours: list[tuple[str, int, int]]  # (run_id, campaign_id, lead_id): see the docstring
