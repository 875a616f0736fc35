"""make_call: start a call through the voice provider, speaking the step's template if it names one (FA-2).

The call script is a template of channel ``voice`` of the campaign's broker (else ``template_channel_mismatch``);
the call speaks it in the lead's language as its time zone suggests (``channels/language.py``)."""

from __future__ import annotations

from typing import Any

from include.campaigns.channels.language import language_for
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
            if problem is None and tpl["channel"] != VOICE:
                problem = f"template_channel_mismatch: template is {tpl['channel']}, a call script is {VOICE}"
            if problem:
                return Done("FAILED", problem, VOICE)
            try:
                script = render(tpl["body"], ctx.render_context())
            except TemplateRenderError as exc:
                return Done("FAILED", f"render_error: {exc}", VOICE)
        language = language_for(ctx.lead.get("timezone"), ctx.broker.get("timezone"))
        return Deliver(ctx.message(VOICE, phone, script, language=language))


ACTION = MakeCall()
