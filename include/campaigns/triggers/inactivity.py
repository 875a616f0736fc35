"""INACTIVITY: ``last_activity_at`` is at least ``days`` days before the run time (never-active leads do not trigger)."""

from __future__ import annotations

from pydantic import Field

from include.campaigns.triggers.base import TriggerConfig, TriggerType

MAX_INACTIVITY_DAYS = 36500
_DAYS = "CAST(c.trigger_config->>'days' AS numeric) * interval '1 day'"
_IDLE = "extract(epoch FROM (CAST(:run_at AS timestamptz) - r.last_activity_at)) / 86400"
# Whole days when the threshold is a whole number of days (`>= n` on whole days is `>= n` on exact ones, and
# leads idle for the same number of days make one event); exact days otherwise (a threshold written by SQL).
_DAYS_INACTIVE = (f"CAST(CASE WHEN c.trigger_config->>'days' ~ '^[0-9]+$' THEN floor({_IDLE}) ELSE {_IDLE} END "
                  "AS float8)")


class InactivityConfig(TriggerConfig):
    days: int = Field(ge=1, le=MAX_INACTIVITY_DAYS, description="Enrol leads inactive for at least this many days.")


TRIGGER = TriggerType(
    name="INACTIVITY",
    summary=__doc__.split(": ", 1)[1],
    config_model=InactivityConfig,
    config_shape='{"days": <integer >= 1>}',
    rule=lambda m, config: m.days_inactive >= float(config["days"]),  # whole days against whole days
    facts={"days_inactive": _DAYS_INACTIVE},
    prefilter_sql=f"r.last_activity_at <= CAST(:run_at AS timestamptz) - {_DAYS}",
    # an unchanged lead starts to match once its activity is `days` old: stage the leads that crossed
    # that line since the last sweep
    activity_window=(f"c.last_sweep_at - {_DAYS}", f"CAST(:run_at AS timestamptz) - {_DAYS}"),
)
