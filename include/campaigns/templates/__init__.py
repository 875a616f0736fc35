"""Message templates: Jinja in a sandbox, strict about undefined names, within a time and size budget.

Templates are written by broker admins, so they run in Jinja's immutable sandbox (no attribute tricks into
Python internals, no mutation of the context) and an undefined variable is an error rather than a silent
blank in a message sent to a client. The sandbox alone does not stop a template that never ends or builds a
huge value, and one bad template must fail its own step quickly, never stall the worker that executes a
whole chunk. Hence, per render, a size budget (``limits.py``, ``filters.py``, ``environment.py``), a time
budget (``watchdog.py``) and a quarantine of templates that keep timing out (``render.py``).
"""

from include.campaigns.templates.context import template_context
from include.campaigns.templates.render import (
    MAX_OUTPUT_CHARS, RENDER_TIME_BUDGET_SECONDS, Quarantine, TemplateRenderError, process_quarantine, render,
)

__all__ = ["MAX_OUTPUT_CHARS", "RENDER_TIME_BUDGET_SECONDS", "Quarantine", "TemplateRenderError",
           "process_quarantine", "render", "template_context"]
