"""LEAD_SCORE: the lead's score is strictly greater than ``threshold``."""

from __future__ import annotations

from pydantic import Field

from include.campaigns.triggers.base import TriggerConfig, TriggerType


class LeadScoreConfig(TriggerConfig):
    threshold: int = Field(ge=0, le=100, description="Enrol leads whose score is strictly greater than this.")


TRIGGER = TriggerType(
    name="LEAD_SCORE",
    summary=__doc__.split(": ", 1)[1],
    config_model=LeadScoreConfig,
    config_shape='{"threshold": <integer 0..100>}',
    rule=lambda m, config: m.score > float(config["threshold"]),
    facts={"score": "r.score"},
    prefilter_sql="r.score > CAST(c.trigger_config->>'threshold' AS numeric)",
)
