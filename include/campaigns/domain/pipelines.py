"""A broker's own pipeline: the stages of its CRM (``pipeline_stages``), never a built-in list.

A broker with rows there accepts only those stages (leads elsewhere are set aside as ``unknown_stage``,
and steps, triggers and conditions must name one of them); a broker without rows accepts every non-empty
stage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, text

from include.campaigns.domain.vocabulary import UNKNOWN_STAGE

Pipelines = Mapping[int, tuple[str, ...]]  # broker_id -> its stages in pipeline order

_STAGES = ("SELECT broker_id, stage FROM pipeline_stages "
           "WHERE CAST(:ids AS bigint[]) IS NULL OR broker_id = ANY(:ids) ORDER BY broker_id, position, stage")


def load_pipelines(conn: Connection, broker_ids: Iterable[int] | None = None) -> dict[int, tuple[str, ...]]:
    """The pipelines of these brokers (all brokers when None); a broker without rows is absent."""
    ids = None if broker_ids is None else sorted(set(broker_ids))
    out: dict[int, list[str]] = {}
    for broker_id, stage in conn.execute(text(_STAGES), {"ids": ids}):
        out.setdefault(broker_id, []).append(stage)
    return {b: tuple(s) for b, s in out.items()}


def stage_problem(pipelines: Pipelines, broker_id: int, stage: object) -> str | None:
    """Why ``stage`` is not a stage of the broker, or None when it is."""
    if not isinstance(stage, str) or not stage.strip():
        return f"{UNKNOWN_STAGE}: {stage!r} is not a stage"
    stages = pipelines.get(broker_id)
    if stages is not None and stage not in stages:
        return f"{UNKNOWN_STAGE}: {stage!r} is not in broker {broker_id}'s pipeline ({', '.join(stages)})"
    return None
