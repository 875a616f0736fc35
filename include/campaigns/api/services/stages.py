"""A campaign's definition against its broker's pipeline: every stage it names must be one of the broker's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from include.campaigns import triggers
from include.campaigns.domain.pipelines import load_pipelines, stage_problem


def _problem(conn: Connection, broker_id: int, stage: object) -> str | None:
    return stage_problem(load_pipelines(conn, [broker_id]), broker_id, stage)


def trigger_stage_problems(conn: Connection, broker_id: int, trigger_type: str,
                           config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, problem) for each stage the trigger config names that the broker does not have."""
    named = triggers.get(trigger_type).stages_named(config)
    return [(f"trigger_config.{key}", p) for key, stage in named.items() if (p := _problem(conn, broker_id, stage))]


def step_stage_problems(conn: Connection, broker_id: int, step: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, problem) for the stages a step names: an update_stage target, stage conditions."""
    named: list[tuple[str, object]] = []
    if step["action"] == "update_stage":
        named.append(("config.stage", (step.get("config") or {}).get("stage")))
    for op, value in ((step.get("conditions") or {}).get("stage") or {}).items():
        named += [(f"conditions.stage.{op}", s) for s in (value if isinstance(value, list) else [value])]
    return [(field, p) for field, stage in named if (p := _problem(conn, broker_id, stage))]


def goal_stage_problems(conn: Connection, broker_id: int, goal: Any) -> list[tuple[str, str]]:
    """(field, problem) for each goal stage the broker does not have."""
    stages = (goal.model_dump() if hasattr(goal, "model_dump") else goal or {}).get("stages") or []
    return [(f"goal.stages[{i}]", p) for i, stage in enumerate(stages) if (p := _problem(conn, broker_id, stage))]
