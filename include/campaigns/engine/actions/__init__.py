"""The step actions: one module each, registered here. Adding an action = adding its module to ``MODULES``."""

from __future__ import annotations

from include.campaigns.engine.actions import make_call, schedule_meeting, send_message, update_stage
from include.campaigns.engine.actions.base import Action

MODULES = (send_message, make_call, schedule_meeting, update_stage)
REGISTRY: dict[str, Action] = {m.ACTION.name: m.ACTION for m in MODULES}
ACTION_NAMES = tuple(REGISTRY)
CONTACT_ACTIONS = tuple(name for name, a in REGISTRY.items() if a.contact)  # what max_contacts counts


def register(action: Action) -> Action | None:
    """Serve ``action.name`` with ``action`` in this process (a plugin's action, a replacement); returns the
    action it replaces. The admin API only accepts the actions of ``MODULES``."""
    previous = REGISTRY.get(action.name)
    REGISTRY[action.name] = action
    return previous
