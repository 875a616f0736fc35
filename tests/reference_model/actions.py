"""The reference's actions: what send_message and make_call come to (template, address, render, the sandbox
provider), given the lead, its campaign and the broker's templates, agents and name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tests.reference_model.rules import provider_refusal, render


@dataclass(frozen=True)
class Outcome:
    status: str
    reason: str | None = None
    queued: bool = False  # handed to the provider (SENT, or refused by it): a frequency cap counts it at once


class Actions:
    def __init__(self, templates: Mapping[int, dict], agents: Mapping[int, dict], brokers: Mapping[int, dict]) -> None:
        self.templates, self.agents, self.brokers = templates, agents, brokers

    def _template(self, step: dict, campaign: dict) -> tuple[dict | None, str | None]:
        tpl = self.templates.get(step["message_template_id"]) if step["message_template_id"] is not None else None
        if tpl is None or tpl["broker_id"] != campaign["broker_id"]:
            return None, "template_not_found"
        if not tpl["is_active"]:
            return None, "template_inactive"
        return tpl, None

    def _render(self, source: str, campaign: dict, lead: dict) -> str:
        agent = self.agents.get(lead["assigned_agent_id"]) if lead["assigned_agent_id"] is not None else None
        return render(source, lead, campaign, agent, self.brokers.get(campaign["broker_id"]))

    @staticmethod
    def _provider(channel: str, recipient: str) -> Outcome:
        refusal = provider_refusal(channel, recipient)
        return Outcome("FAILED", f"provider_error: {refusal}", True) if refusal else Outcome("SENT", None, True)

    def send_message(self, step: dict, campaign: dict, lead: dict) -> Outcome:
        channel = campaign["channel"]
        tpl, problem = self._template(step, campaign)
        if problem:
            return Outcome("FAILED", problem)
        if tpl["channel"] != channel:
            return Outcome("FAILED", f"template_channel_mismatch: template is {tpl['channel']}, campaign is {channel}")
        recipient = lead["email"] if channel == "email" else lead["phone"]
        if not recipient:
            return Outcome("FAILED", "no_email_address" if channel == "email" else "no_phone_number")
        try:
            self._render(tpl["body"], campaign, lead)
            if channel == "email" and tpl.get("subject"):
                self._render(tpl["subject"], campaign, lead)
        except Exception as exc:
            return Outcome("FAILED", f"render_error: {type(exc).__name__}: {exc}")
        return self._provider(channel, recipient)

    def make_call(self, step: dict, campaign: dict, lead: dict) -> Outcome:
        if not lead["phone"]:
            return Outcome("FAILED", "no_phone_number")
        if step["message_template_id"] is not None:
            tpl, problem = self._template(step, campaign)
            if problem is None and tpl["channel"] != "voice":
                problem = f"template_channel_mismatch: template is {tpl['channel']}, a call script is voice"
            if problem:
                return Outcome("FAILED", problem)
            try:
                self._render(tpl["body"], campaign, lead)
            except Exception as exc:
                return Outcome("FAILED", f"render_error: {type(exc).__name__}: {exc}")
        return self._provider("voice", lead["phone"])

