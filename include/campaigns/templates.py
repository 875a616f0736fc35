"""Message templates: Jinja in a sandbox, strict about undefined names.

Templates are written by broker admins, so they run in Jinja's immutable sandbox (no
attribute tricks into Python internals, no mutation of the context) and an undefined
variable is an error rather than a silent blank in a message sent to a client.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True)
MAX_OUTPUT_CHARS = 20_000


class TemplateRenderError(Exception):
    """The template could not be rendered; the message says why, for the campaign log."""


@functools.lru_cache(maxsize=1024)
def _compile(source: str):
    return _ENV.from_string(source)


def render(source: str, context: Mapping[str, Any]) -> str:
    try:
        out = _compile(source).render(**context)
    except SecurityError as exc:
        raise TemplateRenderError(f"unsafe template: {exc}") from exc
    except TemplateError as exc:
        raise TemplateRenderError(f"{type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # a filter or operation failing on the lead's data
        raise TemplateRenderError(f"{type(exc).__name__}: {exc}") from exc
    if len(out) > MAX_OUTPUT_CHARS:
        raise TemplateRenderError(f"rendered message longer than {MAX_OUTPUT_CHARS} characters")
    return out


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
