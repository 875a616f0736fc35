"""Parallel chunk execution, the way Airflow runs the mapped execute task: a pool of spawned worker processes
(or threads), started and warmed up (imports, adapters) before any timing; each chunk is one call of the
execute stage in a worker, which reports its own time and peak memory."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from typing import Any

from sqlalchemy import Engine

from bench.driver import ChunkRun
from bench.memory import peak_bytes, reset_peak
from include.campaigns.engine.run import RunContext
from include.campaigns.engine.settings import EngineSettings
from include.campaigns.engine.stages import BY_ID, Stage

_WORKER: dict[str, Any] = {}


def make_engine(url: str, statement_timeout_min: float, pool_size: int = 4) -> Engine:
    """An engine whose every statement is bounded by ``statement_timeout``."""
    from include.campaigns.infra.database import campaign_engine

    ms = int(statement_timeout_min * 60_000)
    return campaign_engine(url, pool_size=pool_size, connect_args={"options": f"-c statement_timeout={ms}"})


def _init_worker(url: str, statement_timeout_min: float) -> None:
    from include.campaigns.infra.paths import apply_airflow_env_defaults

    apply_airflow_env_defaults()
    from include.campaigns.channels import load_adapters

    for stage in BY_ID.values():
        if stage.kind == "execute":
            stage.load()  # imported before the timings
    _WORKER["engine"] = engine = make_engine(url, statement_timeout_min, pool_size=1)
    load_adapters(engine)  # the first call imports Airflow's connection lookup


def _warm(_: int) -> int:
    time.sleep(0.5)  # long enough for the pool to start every worker, not reuse the first one
    return os.getpid()


def _execute_in_worker(task_id: str, run: dict, chunk_no: int, settings: EngineSettings) -> tuple[dict, float, int]:
    reset_peak()
    t = time.perf_counter()
    out = BY_ID[task_id].load()(_WORKER["engine"], RunContext.from_dict(run), chunk_no, settings)
    return out, time.perf_counter() - t, peak_bytes()


class ChunkPool:
    """``--workers`` processes (spawn) or threads; ``execute`` is an ExecuteChunks."""

    def __init__(self, kind: str, workers: int, url: str, statement_timeout_min: float, engine: Engine) -> None:
        self.kind, self.workers, self.engine = kind, workers, engine
        self.pool: Executor
        if kind == "thread":
            self.pool = ThreadPoolExecutor(workers)
        else:
            self.pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker,
                                            initargs=(url, statement_timeout_min))
            pids = set(self.pool.map(_warm, range(workers * 2)))
            print(f"executor: {len(pids)} worker processes (spawn), warmed up", flush=True)

    @property
    def description(self) -> str:
        return f"parallel ({self.workers} {self.kind}es)"

    def execute(self, stage: Stage, run: RunContext, chunks: Sequence[int], settings: EngineSettings) -> list[ChunkRun]:
        if self.kind == "thread":
            fn = stage.load()

            def one(chunk_no: int) -> ChunkRun:
                t = time.perf_counter()
                return ChunkRun(fn(self.engine, run, chunk_no, settings), time.perf_counter() - t)
            return list(self.pool.map(one, chunks))
        futures = [self.pool.submit(_execute_in_worker, stage.task_id, run.to_dict(), c, settings) for c in chunks]
        return [ChunkRun(*f.result()) for f in futures]

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
