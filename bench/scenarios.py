"""The benchmark itself: prepare the data set once, then per repetition restore it and time the scenarios
(a) first full run, (b) steady-state hour after 5 % of the valid leads changed, (c) ~N steps due with the
chunks in parallel, (c-seq) the same with the chunks one after another. Each scenario is one run of the
engine's stages (``bench/driver.py``)."""

from __future__ import annotations

import argparse
import json
import resource
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench import dataset, floor
from bench.driver import LABELS, no_chunks, run_stages, sequential
from bench.machine import engine_version, machine
from bench.memory import TreeSampler
from bench.report import report, summarise
from bench.workers import ChunkPool, make_engine
from include.campaigns.engine.run import RunContext
from include.campaigns.engine.settings import EngineSettings

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# What each stage's "rows" are: a key of its own output (the others are counted from the database).
ROW_KEYS = {"snapshot": "leads_staged", "validate": "validated", "evaluate": "trigger_candidates",
            "enrol": "enrolled"}


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
        self.engine = make_engine(self.url, args.statement_timeout)
        # the chunks that run side by side here: the executor's worker processes (the pool's slots in Airflow)
        self.settings = EngineSettings(max_chunks=args.max_chunks, min_chunk_size=args.min_chunk_size,
                                       parallel_chunks=args.workers)
        self.shape = dataset.BenchShape(args.leads, args.brokers, args.campaigns, args.seed, args.invalid_share,
                                        options=args.options == "on")
        self.t_start = time.monotonic()
        self.pool: ChunkPool | None = None
        self.current_stage = self.current_scenario = None
        self.results: dict[str, Any] = {"started_at": datetime.now(timezone.utc).isoformat(), "complete": False,
                                        "args": vars(args), "reps": []}

    # set-up ----------------------------------------------------------------------------------------
    def prepare(self) -> None:
        from include.campaigns.infra.migrations import DATA_TABLES, truncate_all, upgrade

        upgrade(self.engine)
        truncate_all(self.engine)
        with self.engine.begin() as c:
            c.exec_driver_sql("DROP SCHEMA IF EXISTS bench CASCADE")
            c.exec_driver_sql("CREATE SCHEMA bench")
        t = time.perf_counter()
        counts = dataset.build(self.engine, self.shape)
        built = time.perf_counter() - t
        self.analyze()
        t = time.perf_counter()
        seeded = dataset.seed_previous_sweep(self.engine, self.shape, self.seed_sweep)
        seeded_s = time.perf_counter() - t
        with self.engine.begin() as c:
            self.pristine = [t for t in DATA_TABLES if c.exec_driver_sql(f"SELECT EXISTS (SELECT 1 FROM {t})").scalar()]
            for table in self.pristine:
                c.exec_driver_sql(f"CREATE TABLE bench.pristine_{table} AS TABLE {table}")
            floor.create_floor_table(c)
            snapshots, rejected = c.exec_driver_sql(
                "SELECT count(*), count(*) FILTER (WHERE rejected) FROM lead_snapshots").one()
            by_trigger = dict(c.execute(text("SELECT trigger_type, count(*) FROM campaigns GROUP BY 1")).all())
        self.analyze()
        self.results["dataset"] = {"rows": counts, "build_seconds": round(built, 2),
                                   "previous_sweep": {**seeded, "seconds": round(seeded_s, 2),
                                                      "lead_snapshots": snapshots, "rejected": rejected},
                                   "agents_per_broker": self.shape.synthetic.agents_per_broker,
                                   "restored_tables": self.pristine, "campaigns_by_trigger": by_trigger}
        print(f"data set: {counts['leads']:,} leads, {counts['brokers']} brokers "
              f"({counts['pipeline_stages']} pipeline stages), {counts['agents']:,} agents, {counts['campaigns']} "
              f"campaigns, {counts['campaign_steps']} steps - built in {built:.1f} s; previous sweep by the engine: "
              f"{snapshots:,} snapshots ({rejected:,} set aside), {seeded['stage_movers']:,} leads moved stage "
              f"since, {seeded_s:.1f} s", flush=True)

    def seed_sweep(self, run_id: str, run_at: datetime) -> None:
        run_stages(self.engine, RunContext(run_id, run_at), self.settings, no_chunks)

    def restore(self) -> float:
        """Back to the data set as prepared: every table emptied (truncate_all), the prepared rows copied back."""
        from include.campaigns.infra.migrations import truncate_all

        t = time.perf_counter()
        truncate_all(self.engine)
        with self.engine.begin() as c:
            for table in self.pristine:
                c.exec_driver_sql(f"INSERT INTO {table} SELECT * FROM bench.pristine_{table}")
            # copying leads back wrote every lead to the change feed: back to the feed as prepared
            c.exec_driver_sql("TRUNCATE lead_changes")
            if "lead_changes" in self.pristine:
                c.exec_driver_sql("INSERT INTO lead_changes SELECT * FROM bench.pristine_lead_changes")
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

    def warm_up(self) -> dict[str, float]:
        """Import what the stages import lazily (GX, durable-rules, Jinja), outside the timings.

        Each Airflow task is a fresh process that pays these imports; they are reported apart."""
        from include.campaigns.quality.gx_runner import reject_conditions

        took = {}
        t = time.perf_counter()
        reject_conditions(self.engine, datetime.now(timezone.utc), [])
        took["great_expectations_first_conditions"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        from include.campaigns.channels import load_adapters
        from include.campaigns.engine.stages import RUN_ORDER

        for stage in RUN_ORDER:
            stage.load()
        load_adapters(self.engine)
        took["pipeline_executor_adapters"] = round(time.perf_counter() - t, 2)
        return took

    # one scenario ------------------------------------------------------------------------------------
    def scenario(self, name: str, run_id: str, run_at: datetime, parallel: bool) -> dict[str, Any]:
        run = RunContext(run_id, run_at)
        self.current_scenario, self.current_stage = name, None
        sampler = TreeSampler()
        sampler.start()
        execute = self.pool.execute if parallel and self.pool else sequential(self.engine)
        print(f"  {name:6s}", end="", flush=True)
        try:
            stages = run_stages(self.engine, run, self.settings, execute,
                                on_stage=lambda stage: setattr(self, "current_stage", stage))
        finally:
            tree_peak, child_peak = sampler.stop()
        seconds = {k: v.seconds for k, v in stages.items()}
        chunk_runs = next((v.chunks for v in stages.values() if v.chunks is not None), [])
        with self.engine.connect() as c:
            steps, logs = c.execute(text("SELECT count(*) FILTER (WHERE step_number IS NOT NULL), count(*) "
                                         "FROM campaign_logs WHERE run_id = :r"), {"r": run_id}).one()
            counts = c.execute(text("SELECT counts FROM pipeline_runs WHERE run_id = :r"), {"r": run_id}).scalar()
        counts = counts or {}
        rows = {st: (stages[st].output or {}).get(key) for st, key in ROW_KEYS.items()}
        rows.update(start=None, plan=counts.get("enrolments_due"), execute=steps, finish=logs)
        worker_peaks = [c.worker_peak_bytes for c in chunk_runs if c.worker_peak_bytes is not None]
        parent_peak = max(v.peak_bytes for v in stages.values())
        rec = {
            "scenario": name, "run_id": run_id, "run_at": run_at.isoformat(),
            "execution": self.pool.description if parallel and self.pool else "sequential (this process)",
            "seconds": {k: round(v, 4) for k, v in seconds.items()},
            "stage_peak_bytes": {k: v.peak_bytes for k, v in stages.items()},  # this process (VmHWM reset before each)
            "stage_start_rss_bytes": {k: v.start_rss_bytes for k, v in stages.items()},
            "total_seconds": round(sum(seconds.values()), 4),
            "rows": {st: rows.get(st) for st in LABELS},
            "chunks": len(chunk_runs), "chunk_seconds": [round(c.seconds, 3) for c in chunk_runs],
            "steps_executed": steps, "log_rows": logs,
            "stage_outputs": {k: v.output for k, v in stages.items() if k not in ("execute", "plan")},
            "pipeline_counts": counts,
            "peak_bytes": parent_peak,
            "worker_peak_bytes": max(worker_peaks) if worker_peaks else None,
            "worker_peak_sum_bytes": sum(sorted(worker_peaks)[-self.args.workers:]) if worker_peaks else None,
            "tree_peak_bytes": tree_peak,  # sampled: this process + every descendant
            "child_peak_bytes": child_peak,  # sampled: the largest single child process
        }
        print(" ".join(f"{k} {v:.2f}" for k, v in seconds.items())
              + f" = {rec['total_seconds']:.2f} s | staged {rows['snapshot']}, validated {rows['validate']}, "
                f"candidates {rows['evaluate']}, enrolled {rows['enrol']}, due {rows['plan']}, steps {steps}, "
                f"chunks {len(chunk_runs)}, peak {parent_peak / 2**20:.0f} MiB", flush=True)
        return rec

    def check_arranged(self, arranged: dict, rec: dict) -> None:
        """The enrolments inserted for (c) must have been planned; if not, the enrolment table changed shape."""
        due = rec["rows"]["plan"] or 0
        if due < 0.95 * arranged["enrolments"]:
            msg = (f"only {due:,} enrolments due for {arranged['enrolments']:,} arranged: campaign_enrolments may "
                   "have a new column bench/sql/arrange_due.sql must fill")
            print(f"  WARNING: {msg}", flush=True)
            self.results.setdefault("warnings", []).append(msg)

    # the whole thing -------------------------------------------------------------------------------------------
    def repetition(self, rep: int) -> dict[str, Any]:
        a, t0, share = self.args, dataset.T0, self.args.invalid_share
        r: dict[str, Any] = {"rep": rep + 1, "restore_seconds": round(self.restore(), 2) if rep else 0.0,
                             "scenarios": {}}
        self.results["reps"].append(r)
        sc = r["scenarios"]
        sc["a"] = self.scenario("a", f"bench__a_{rep + 1}", t0, parallel=True)
        r["changed_leads"] = dataset.change_five_percent(self.engine, t0 + timedelta(minutes=30), rep, share)
        self.analyze()
        sc["b"] = self.scenario("b", f"bench__b_{rep + 1}", t0 + timedelta(hours=1), parallel=True)
        r["arranged_c"] = dataset.arrange_due(self.engine, t0 + timedelta(hours=2), a.due, f"bench-arranged-c{rep + 1}",
                                              share)
        sc["c"] = self.scenario("c", f"bench__c_{rep + 1}", t0 + timedelta(hours=2), parallel=True)
        self.check_arranged(r["arranged_c"], sc["c"])
        r["arranged_c_seq"] = dataset.arrange_due(self.engine, t0 + timedelta(hours=3), a.due,
                                                  f"bench-arranged-cseq{rep + 1}", share, salt=500_009)
        sc["c_seq"] = self.scenario("c_seq", f"bench__cseq_{rep + 1}", t0 + timedelta(hours=3), parallel=False)
        self.check_arranged(r["arranged_c_seq"], sc["c_seq"])
        return r

    def run(self) -> None:
        a = self.args
        self.results["machine"] = machine(self.engine, self.embedded)
        self.results["engine_version"] = engine_version()
        self.prepare()
        self.results["import_seconds"] = self.warm_up()  # GX builds its conditions on the migrated schema
        self.pool = ChunkPool(a.executor, a.workers, self.url, a.statement_timeout, self.engine)
        last_rep = 0.0
        for rep in range(a.repeat):
            spent = (time.monotonic() - self.t_start) / 60
            if rep and spent + last_rep / 60 > a.budget:
                print(f"budget of {a.budget} min reached after {rep} repetition(s): stopping", flush=True)
                break
            t_rep = time.monotonic()
            print(f"repetition {rep + 1}/{a.repeat}", flush=True)
            try:
                r = self.repetition(rep)
            except Exception as exc:  # a stage failed (e.g. the statement timeout): record it, stop repeating
                error = {"scenario": self.current_scenario, "stage": self.current_stage,
                         "error": f"{type(exc).__name__}: {exc}"[:2000]}
                self.results["reps"][-1]["error"] = error
                print(f"\n  FAILED in stage {self.current_stage}: {type(exc).__name__}: {str(exc)[:300]}", flush=True)
                self.results["errors"] = self.results.get("errors", []) + [error]
                break
            r["floor"] = {"leads_out": floor.leads_out(self.engine),
                          **{f"logs_in_{k}": floor.logs_in(self.engine, v["run_id"]) for k, v in r["scenarios"].items()}}
            f = r["floor"]
            print(f"  floor  COPY leads out {f['leads_out']['rows']:,} rows {f['leads_out']['seconds']:.2f} s; "
                  + ", ".join(f"logs in ({k[8:]}) {v['rows']:,} rows {v['seconds']:.2f} s"
                              for k, v in f.items() if k.startswith("logs_in_")), flush=True)
            last_rep = time.monotonic() - t_rep
            self.results["complete"] = True
        self.finish()

    def finish(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
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
        suffix = "" if self.args.invalid_share == dataset.DEFAULT_INVALID_SHARE else f"-invalid{self.args.invalid_share:g}"
        (RESULTS_DIR / f"bench-{self.args.leads}{suffix}-{stamp}.json").write_text(body)
        print(report(self.results))
        print(f"results: {RESULTS_DIR / 'latest.json'}")
