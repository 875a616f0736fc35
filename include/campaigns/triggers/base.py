"""What a trigger type is made of. One module per type (``lead_score.py``, ...) defines one ``TriggerType``.

Each part has one consumer:

* ``config_model`` -- the pydantic model of ``campaigns.trigger_config`` (the admin API validates with it);
* ``rule`` -- the durable-rules condition on an event (``rules/campaign_triggers.py`` builds one rule per
  campaign from it; the rules decide every boundary);
* ``facts`` -- the event fields the rule reads (besides the campaign, the broker and the mode), each with its
  SQL over ``r`` (the staged lead), ``c`` (the campaign) and ``:run_at``. The evaluate stage asks the rules
  once per distinct combination of them: leads with the same facts get the same verdict, so a million leads
  become a few thousand events, and the rules still decide every one;
* ``prefilter_sql`` -- a SQL condition over ``r`` (the staged lead) and ``c`` (the campaign) that accepts
  every pair the rule accepts (written to be exact: the rule engine is not fed pairs that cannot match);
* ``activity_window`` -- for a trigger an *unchanged* lead can start to satisfy as time passes: SQL for the
  bounds ``(after, upto]`` of ``last_activity_at`` over ``c`` (with ``c.last_sweep_at``) and ``:run_at``; the sweep
  stages the leads whose activity falls in it;
* ``stages_named`` -- the stages a config names (config key -> stage), checked against the broker's pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

# The event the rules judge: the facts of (staged leads, campaign) pairs; see engine/evaluate.py. `lead_id`
# is the id of the distinct combination of facts the event stands for.
EVENT_FIELDS = ("lead_id", "campaign_id", "broker_id", "score", "stage", "stage_changed", "days_inactive")
FACTS = ("score", "stage", "stage_changed", "days_inactive")


class TriggerConfig(BaseModel):
    """Strict (no coercion) and closed (an unknown key is an error)."""

    model_config = ConfigDict(strict=True, extra="forbid")


@dataclass(frozen=True)
class TriggerType:
    name: str
    summary: str
    config_model: type[TriggerConfig]
    config_shape: str  # for error messages: '{"threshold": <integer 0..100>}'
    rule: Callable[[Any, Mapping[str, Any]], Any]  # (durable-rules m, config) -> condition
    facts: Mapping[str, str]  # what the rule reads, of FACTS -> its SQL
    prefilter_sql: str
    automatic: bool = True
    activity_window: tuple[str, str] | None = None
    stages_named: Callable[[Mapping[str, Any]], dict[str, Any]] = field(default=lambda config: {})


@dataclass(frozen=True)
class TriggerDefinition:
    """One ACTIVE campaign's trigger, as the rules see it."""

    campaign_id: int
    broker_id: int
    trigger_type: str
    config: Mapping[str, Any]
