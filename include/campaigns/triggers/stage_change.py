"""STAGE_CHANGE: the lead's stage differs from the previous snapshot's and equals ``to_stage``
(an admin's apply only needs the lead to be in ``to_stage``)."""

from __future__ import annotations

from pydantic import Field

from include.campaigns.triggers.base import TriggerConfig, TriggerType


class StageChangeConfig(TriggerConfig):
    to_stage: str = Field(min_length=1, max_length=200,
                          description="Enrol leads that just moved to this stage of the broker's pipeline.")


TRIGGER = TriggerType(
    name="STAGE_CHANGE",
    summary=__doc__.split(": ", 1)[1],
    config_model=StageChangeConfig,
    config_shape='{"to_stage": <a stage of the broker\'s pipeline>}',
    rule=lambda m, config: (m.stage == str(config["to_stage"])) & ((m.stage_changed == True) | (m.mode == "apply")),  # noqa: E712
    facts={"stage": "r.stage", "stage_changed": "(r.prev_stage IS NOT NULL AND r.prev_stage <> r.stage)"},
    prefilter_sql="r.stage = c.trigger_config->>'to_stage' "
                  "AND (CAST(:campaign_id AS bigint) IS NOT NULL OR (r.prev_stage IS NOT NULL AND r.prev_stage <> r.stage))",
    stages_named=lambda config: {"to_stage": config.get("to_stage")},
)
