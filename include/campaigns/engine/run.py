"""One DAG run: its id, its "now", and whether it sweeps or applies one campaign to one lead."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, text


class InvalidRunParams(ValueError):
    """The run cannot start as asked; nothing has been written."""


@dataclass(frozen=True)
class RunContext:
    run_id: str
    run_at: datetime
    campaign_id: int | None = None
    lead_id: int | None = None

    @property
    def mode(self) -> str:
        return "apply" if self.campaign_id is not None else "sweep"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["run_at"] = self.run_at.isoformat()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunContext:
        return cls(
            run_id=d["run_id"],
            run_at=datetime.fromisoformat(d["run_at"]),
            campaign_id=d.get("campaign_id"),
            lead_id=d.get("lead_id"),
        )


def _as_id(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRunParams(f"{name} must be a positive integer or null, got {value!r}")
    return value


def resolve_run(run_id: str, params: Mapping[str, Any], logical_date: datetime | None, run_after: datetime) -> RunContext:
    """Check the params and fix the run time: the logical date when there is one, else run_after."""
    campaign_id = _as_id("campaign_id", params.get("campaign_id"))
    lead_id = _as_id("lead_id", params.get("lead_id"))
    if (campaign_id is None) != (lead_id is None):
        missing = "lead_id" if lead_id is None else "campaign_id"
        raise InvalidRunParams(
            f"apply-to-lead needs both campaign_id and lead_id ({missing} is missing); "
            "leave both null for the hourly sweep"
        )
    run_at = logical_date or run_after
    if run_at is None or run_at.tzinfo is None:
        raise InvalidRunParams(f"run time must be timezone-aware, got {run_at!r}")
    return RunContext(run_id=run_id, run_at=run_at, campaign_id=campaign_id, lead_id=lead_id)


def check_apply_target(conn: Connection, run: RunContext) -> None:
    """Apply-to-lead only for an existing ACTIVE campaign and a lead of the same broker."""
    campaign = conn.execute(
        text("SELECT broker_id, status FROM campaigns WHERE id = :id"), {"id": run.campaign_id}
    ).one_or_none()
    if campaign is None:
        raise InvalidRunParams(f"campaign {run.campaign_id} does not exist")
    if campaign.status != "ACTIVE":
        raise InvalidRunParams(f"campaign {run.campaign_id} is {campaign.status}, not ACTIVE: it cannot be applied")
    lead = conn.execute(text("SELECT broker_id FROM leads WHERE id = :id"), {"id": run.lead_id}).one_or_none()
    if lead is None:
        raise InvalidRunParams(f"lead {run.lead_id} does not exist")
    if lead.broker_id != campaign.broker_id:
        raise InvalidRunParams(
            f"lead {run.lead_id} belongs to broker {lead.broker_id}, campaign {run.campaign_id} to broker "
            f"{campaign.broker_id}: campaigns apply only to their own broker's leads"
        )


def start_run(engine: Engine, run: RunContext) -> dict[str, Any]:
    """Validate the target (apply mode) and record the run; raises InvalidRunParams before any write."""
    with engine.begin() as conn:
        if run.mode == "apply":
            check_apply_target(conn, run)
        conn.execute(
            text(
                "INSERT INTO pipeline_runs (run_id, run_at, mode, campaign_id, lead_id) "
                "VALUES (:run_id, :run_at, :mode, :campaign_id, :lead_id) "
                "ON CONFLICT (run_id) DO UPDATE SET run_at = excluded.run_at, finished_at = NULL"
            ),
            {**run.to_dict(), "run_at": run.run_at, "mode": run.mode},
        )
    return run.to_dict()


def record_counts(conn: Connection, run_id: str, counts: Mapping[str, Any]) -> None:
    """Merge a stage's counts into the run's row (a retried stage overwrites its own keys)."""
    conn.execute(
        text("UPDATE pipeline_runs SET counts = counts || CAST(:c AS jsonb) WHERE run_id = :r"),
        {"c": json.dumps(dict(counts), default=str), "r": run_id},
    )
