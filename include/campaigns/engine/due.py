"""When steps are due: the rule of the contract, as a pure function.

Step k is due at (execution time of step k-1, or the enrolment time for the first step)
+ delay_hours of step k. Everything a run executes is executed "at" its run time, so after
the first step of a run only zero-delay steps can follow in the same run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Step:
    number: int
    action: str
    delay_hours: float
    message_template_id: int | None = None
    conditions: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)


def due_chain(last_step_number: int, anchor_at: datetime, steps: Sequence[Step], run_at: datetime) -> list[int]:
    """Step numbers due at ``run_at``, in order, for an enrolment whose last executed step is
    ``last_step_number`` (0 = none) executed at ``anchor_at`` (or enrolled then)."""
    due: list[int] = []
    anchor = anchor_at
    for step in sorted((s for s in steps if s.number > last_step_number), key=lambda s: s.number):
        if anchor + timedelta(hours=step.delay_hours) > run_at:
            break
        due.append(step.number)
        anchor = run_at
    return due
