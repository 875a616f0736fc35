"""update_stage: move the lead to ``config.stage``, a stage of its broker's pipeline (else FAILED unknown_stage);
later steps (and their conditions) see the new stage."""

from __future__ import annotations

from typing import Any

from include.campaigns.domain.pipelines import stage_problem
from include.campaigns.engine.actions.base import Deliver, Done, StageMove, StepContext


class UpdateStage:
    name = "update_stage"
    contact = False

    def channel(self, campaign: dict[str, Any]) -> None:
        return None

    def run(self, ctx: StepContext) -> Done | Deliver:
        target = ctx.step.config.get("stage")
        problem = stage_problem(ctx.chunk.pipelines, ctx.campaign["broker_id"], target)
        if problem:
            return Done("FAILED", problem)
        lead = ctx.lead
        ctx.effects.stage_moves.append(
            StageMove(lead["id"], lead["stage"], target, ctx.enrolment.campaign_id, ctx.step.number))
        lead["stage"] = target
        return Done("SENT")


ACTION = UpdateStage()
