"""send_message: render the template and send it on the campaign's channel (FA-1: template missing/inactive)."""

from __future__ import annotations

from typing import Any

from include.campaigns.engine.actions.base import Deliver, Done, StepContext
from include.campaigns.templates import TemplateRenderError, render


class SendMessage:
    name = "send_message"
    contact = True

    def channel(self, campaign: dict[str, Any]) -> str:
        return campaign["channel"]

    def run(self, ctx: StepContext) -> Done | Deliver:
        channel = self.channel(ctx.campaign)
        tpl, problem = ctx.template()
        if problem is None and tpl["channel"] != channel:
            problem = f"template_channel_mismatch: template is {tpl['channel']}, campaign is {channel}"
        if problem:
            return Done("FAILED", problem, channel)
        recipient = ctx.lead["email"] if channel == "email" else ctx.lead["phone"]
        if not recipient:
            return Done("FAILED", "no_email_address" if channel == "email" else "no_phone_number", channel)
        try:
            context = ctx.render_context()
            body = render(tpl["body"], context)
            subject = render(tpl["subject"], context) if channel == "email" and tpl["subject"] else None
        except TemplateRenderError as exc:
            return Done("FAILED", f"render_error: {exc}", channel)
        return Deliver(ctx.message(channel, recipient, body, subject))


ACTION = SendMessage()
