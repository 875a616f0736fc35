"""INACTIVITY: ``last_activity_at`` is at least ``days`` days before the run time (never-active leads do not trigger)."""

from __future__ import annotations

from pydantic import Field

from include.campaigns.triggers.base import TriggerConfig, TriggerType

MAX_INACTIVITY_DAYS = 36500
_DAYS = "CAST(c.trigger_config->>'days' AS numeric) * interval '1 day'"


class InactivityConfig(TriggerConfig):
    days: int = Field(ge=1, le=MAX_INACTIVITY_DAYS, description="Enrol leads inactive for at least this many days.")


TRIGGER = TriggerType(
    name="INACTIVITY",
    summary=__doc__.split(": ", 1)[1],
    config_model=InactivityConfig,
    config_shape='{"days": <integer >= 1>}',
    rule=lambda m, config: m.days_inactive >= float(config["days"]),
    # a day of slack: the rule decides the boundary
    prefilter_sql="r.last_activity_at <= CAST(:run_at AS timestamptz) "
                  "- (CAST(c.trigger_config->>'days' AS numeric) - 1) * interval '1 day'",
    # an unchanged lead starts to match once its activity is `days` old: stage the leads that crossed
    # that line since the last sweep
    activity_window=(f"c.last_sweep_at - {_DAYS}", f"CAST(:run_at AS timestamptz) - {_DAYS}"),
)
