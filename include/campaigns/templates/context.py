"""The names a template may use: ``lead.*``, ``campaign.*``, ``agent.*``, ``broker.*``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def template_context(
    lead: Mapping[str, Any],
    campaign: Mapping[str, Any],
    agent: Mapping[str, Any] | None,
    broker: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The names a template may use: lead, campaign, agent and broker fields."""
    full_name = lead.get("full_name") or ""
    return {
        "lead": {
            "id": lead.get("id"),
            "full_name": full_name,
            "first_name": full_name.split(" ")[0] if full_name else "",
            "email": lead.get("email"),
            "phone": lead.get("phone"),
            "stage": lead.get("stage"),
            "score": lead.get("score"),
        },
        "campaign": {"id": campaign.get("id"), "name": campaign.get("name"), "channel": campaign.get("channel")},
        "agent": {
            "full_name": (agent or {}).get("full_name") or "",
            "email": (agent or {}).get("email") or "",
            "phone": (agent or {}).get("phone") or "",
        },
        "broker": {"id": (broker or {}).get("id"), "name": (broker or {}).get("name") or ""},
    }

