"""make_call: start a call through the voice provider, speaking the step's template if it names one (FA-2)."""

from __future__ import annotations

from typing import Any

from include.campaigns.domain.vocabulary import VOICE
from include.campaigns.engine.actions.base import Deliver, Done, StepContext
from include.campaigns.templates import TemplateRenderError, render


class MakeCall:
    name = "make_call"
    contact = True

    def channel(self, campaign: dict[str, Any]) -> str:
        return VOICE

    def run(self, ctx: StepContext) -> Done | Deliver:
        phone = ctx.lead["phone"]
        if not phone:
            return Done("FAILED", "no_phone_number", VOICE)
        script = ""
        if ctx.step.message_template_id is not None:
            tpl, problem = ctx.template()
            if problem:
                return Done("FAILED", problem, VOICE)
            try:
                script = render(tpl["body"], ctx.render_context())
            except TemplateRenderError as exc:
                return Done("FAILED", f"render_error: {exc}", VOICE)
        return Deliver(ctx.message(VOICE, phone, script))


ACTION = MakeCall()
