"""The engine's tunables, with their defaults in one place; the DAG reads them from Airflow Variables."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from include.campaigns.domain.meeting_slots import WorkingHours

VARIABLES = {  # Airflow Variable -> EngineSettings field
    "campaigns_max_chunks": "max_chunks",
    "campaigns_min_chunk_size": "min_chunk_size",
    "campaigns_parallel_chunks": "parallel_chunks",
    "campaigns_meeting_hours": "meeting_hours",
}


@dataclass(frozen=True)
class EngineSettings:
    max_chunks: int = 16  # fan-out of execute_chunk, far below Airflow's 1024 map limit
    min_chunk_size: int = 2000  # leads per chunk before another chunk is worth a task
    # how many chunks run side by side (the pool campaign_actions' slots): a run split at all is split into a
    # multiple of it, so no slot idles while another works through a second chunk
    parallel_chunks: int = 4
    meeting_hours: WorkingHours = field(default_factory=WorkingHours)

    @classmethod
    def from_variables(cls, get: Callable[[str], str | None]) -> EngineSettings:
        """Settings from ``get(variable_name)`` (None = the default); a bad value is an error naming the Variable."""
        values: dict = {}
        for variable, name in VARIABLES.items():
            raw = get(variable)
            if raw is None:
                continue
            try:
                values[name] = WorkingHours.from_dict(json.loads(raw)) if name == "meeting_hours" else int(raw)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"Airflow Variable {variable}: invalid value {raw!r} ({exc})") from None
        settings = cls(**values)
        if settings.max_chunks < 1 or settings.min_chunk_size < 1 or settings.parallel_chunks < 1:
            raise ValueError("campaigns_max_chunks, campaigns_min_chunk_size and campaigns_parallel_chunks "
                             "must be >= 1")
        return settings

    @classmethod
    def from_airflow(cls) -> EngineSettings:
        from airflow.sdk import Variable

        return cls.from_variables(lambda name: Variable.get(name, default=None))
