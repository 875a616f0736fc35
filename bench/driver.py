"""One run of the engine, stage by stage, from the engine's own list (``engine.stages.RUN_ORDER``), each stage
called the way the DAG's tasks call it (``engine/airflow_tasks.py``): start / prepare / finish with
``(engine, run)``, plan with ``(engine, run, settings)``, execute once per chunk with
``(engine, run, chunk_no, settings)`` -- in worker processes, threads or here, as ``ExecuteChunks`` decides.
Each stage is timed and its peak memory taken; nothing here knows the order of the stages.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from bench.memory import peak_bytes, reset_peak, rss
from include.campaigns.engine.run import RunContext
from include.campaigns.engine.settings import EngineSettings
from include.campaigns.engine.stages import RUN_ORDER, Stage


@dataclass
class ChunkRun:
    result: dict[str, Any]
    seconds: float
    worker_peak_bytes: int | None = None  # the worker process's own VmHWM, when it ran in one


# (execute stage, run, chunk numbers, settings) -> one ChunkRun per chunk
ExecuteChunks = Callable[[Stage, RunContext, Sequence[int], EngineSettings], list[ChunkRun]]


def label(stage: Stage) -> str:
    """The short name the report uses: the first word of the task id (snapshot_leads -> snapshot)."""
    return stage.task_id.split("_")[0]


LABELS = tuple(label(s) for s in RUN_ORDER)
KIND_OF = {label(s): s.kind for s in RUN_ORDER}


@dataclass
class StageRun:
    output: Any
    seconds: float
    peak_bytes: int
    start_rss_bytes: int
    chunks: list[ChunkRun] | None = None


def sequential(engine: Engine) -> ExecuteChunks:
    """Chunks one after another, in this process."""
    def run_chunks(stage: Stage, run: RunContext, chunks: Sequence[int], settings: EngineSettings) -> list[ChunkRun]:
        fn, out = stage.load(), []
        for chunk_no in chunks:
            t = time.perf_counter()
            out.append(ChunkRun(fn(engine, run, chunk_no, settings), time.perf_counter() - t))
        return out
    return run_chunks


def no_chunks(stage: Stage, run: RunContext, chunks: Sequence[int], settings: EngineSettings) -> list[ChunkRun]:
    """For a run that must plan nothing (the previous sweep, every campaign still a DRAFT)."""
    if chunks:
        raise RuntimeError(f"{run.run_id} planned {len(chunks)} chunk(s): the data set is not as built")
    return []


def run_stages(engine: Engine, run: RunContext, settings: EngineSettings, execute: ExecuteChunks,
               on_stage: Callable[[str], None] = lambda name: None) -> dict[str, StageRun]:
    """Every stage of RUN_ORDER for ``run``; ``on_stage(label)`` is told before each one starts."""
    from include.campaigns.engine.execute import engine_error_message

    out: dict[str, StageRun] = {}
    chunks: list[int] = []
    for stage in RUN_ORDER:
        name = label(stage)
        on_stage(name)
        fn = stage.load()
        reset_peak()
        start_rss = rss(os.getpid())
        t = time.perf_counter()
        chunk_runs = None
        if stage.kind in ("start", "prepare", "finish"):
            result = fn(engine, run)
        elif stage.kind == "plan":
            result = chunks = list(fn(engine, run, settings))
        elif stage.kind == "execute":
            chunk_runs = execute(stage, run, chunks, settings)
            result = [c.result for c in chunk_runs]
        else:
            raise ValueError(f"stage {stage.task_id}: unknown kind {stage.kind!r}")
        out[name] = StageRun(result, time.perf_counter() - t, peak_bytes(), start_rss, chunk_runs)
        if chunk_runs:  # the DAG's execute task fails on engine errors: so does the benchmark
            message = next((m for m in map(engine_error_message, result) if m), None)
            if message:
                raise RuntimeError(f"{stage.task_id}: {message}")
    return out
