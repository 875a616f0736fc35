"""The stages of a run, in order: the one list the DAG is built from and the benchmark drives.

``start`` fixes the run; the ``prepare`` stages run one after another, each ``(engine, run) -> counts``;
``plan`` returns the chunk numbers; ``execute`` runs once per chunk (mapped, in parallel); ``finish``
closes the run. Targets are import paths, resolved on first use: the DAG file imports this module while
it is parsed, and parsing must not import the engine. Each stage runs with Python's cyclic garbage collector
paused (``infra/garbage.py``): the DAG's tasks and the benchmark call them alike, through ``load``.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from include.campaigns.infra.garbage import collector_paused

Kind = Literal["start", "prepare", "plan", "execute", "finish"]


@dataclass(frozen=True)
class Stage:
    task_id: str
    kind: Kind
    target: str  # "module:function"
    doc: str

    def load(self) -> Callable[..., Any]:
        module, _, name = self.target.partition(":")
        target = getattr(importlib.import_module(module), name)

        @functools.wraps(target)
        def run_stage(*args: Any, **kwargs: Any) -> Any:
            with collector_paused():
                return target(*args, **kwargs)

        return run_stage


RUN_ORDER: tuple[Stage, ...] = (
    Stage("start_run", "start", "include.campaigns.engine.run:start_run",
          "Fix the run time and check the params; a bad request fails here, before any write."),
    Stage("snapshot_leads", "prepare", "include.campaigns.engine.snapshot:snapshot_leads",
          "Stage the leads that can trigger something new (sweep), or the one lead (apply), in `run_leads`."),
    Stage("validate_snapshot", "prepare", "include.campaigns.quality.validate:validate_snapshot",
          "Great Expectations on the staged leads; failing rows go to `lead_rejects` with every reason."),
    Stage("evaluate_triggers", "prepare", "include.campaigns.engine.evaluate:evaluate_triggers",
          "durable-rules decides which (campaign, lead) pairs trigger."),
    Stage("enrol_leads", "prepare", "include.campaigns.engine.enrol:enrol_leads",
          "Enrol each match once (FA-3); a sweep advances the snapshots."),
    Stage("plan_due_steps", "plan", "include.campaigns.engine.plan:plan_due_steps",
          "Enrolments with a due step, split into chunks; returns the chunk numbers."),
    Stage("execute_chunk", "execute", "include.campaigns.engine.execute:execute_chunk",
          "One chunk's due steps, exactly once, in one transaction."),
    Stage("finish_run", "finish", "include.campaigns.engine.finish:finish_run",
          "Totals into `pipeline_runs.counts`; the run's scratch rows are cleared."),
)
BY_ID = {s.task_id: s for s in RUN_ORDER}
PREPARE = tuple(s for s in RUN_ORDER if s.kind == "prepare")


def run_prepare_stage(task_id: str, engine: Any, run: Any) -> dict[str, Any]:
    stage = BY_ID[task_id]
    if stage.kind != "prepare":
        raise ValueError(f"{task_id} is not a prepare stage")
    return stage.load()(engine, run)
