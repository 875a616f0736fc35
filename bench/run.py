"""The scale benchmark of issue 4: ``make bench`` / ``python -m bench.run [--leads N ...]``.

In one process, on one database, it
1. empties the campaign tables, applies the migrations and builds the data set (``bench/dataset.py`` on the
   shared generator ``include/campaigns/devtools/synthetic.py``; ``--invalid-share`` of the leads malformed);
2. per repetition (``--repeat``, medians reported; the data set is restored before each one):
   (a) a first full sweep at T0 (empty enrolments, every lead evaluated),
   (b) a steady-state hourly sweep at T0+1h after 5 % of the valid leads changed score, stage or activity
       (one UPDATE),
   (c) a sweep at T0+2h for which ~``--due`` steps fall due (enrolments inserted set-based), its chunks
       run in parallel the way Airflow runs the mapped ``execute_chunk`` tasks,
   (c-seq) the same kind of sweep at T0+3h with its chunks run one after another, in this process;
   each stage is timed separately: the engine's stages from its one list ``RUN_ORDER``, called as the DAG's
   tasks call them (``bench/driver.py``);
3. the floor on the same database: ``COPY leads TO STDOUT`` (consumed by the client) and ``COPY`` of the
   same number of log rows into a scratch table shaped like campaign_logs (indexes included);
4. prints a table (seconds, rows, rows/s, ratio to the floor, peak memory; ``bench/report.py``) and writes
   ``bench/results/latest.json`` (and a dated copy).

Modules: ``scenarios.py`` (the repetitions), ``driver.py`` (one run, stage by stage), ``workers.py`` (the
parallel chunk executors), ``memory.py``, ``floor.py``, ``machine.py``, ``report.py``, ``dataset.py``.

Parallel execution: a ``ProcessPoolExecutor`` (spawn) of ``--workers`` processes (default 2: the cores of
the machine the targets are set for; the Airflow pool ``campaign_actions`` has 4 slots), started and
warmed up (imports, adapters) before the timings; each chunk is one ``execute_chunk`` call in a worker. The plan
splits a run into a multiple of ``--workers`` chunks (``EngineSettings.parallel_chunks``, the pool's slots in
Airflow).

Peak memory: VmHWM of this process, reset (``/proc/self/clear_refs``) at the start of each stage, so
each stage has its own peak; each executor worker resets and reports its own per chunk; a sampler
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
import signal
import sys
from pathlib import Path

from bench.dataset import DEFAULT_INVALID_SHARE
from bench.report import report
from include.campaigns.engine.settings import EngineSettings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--leads", type=int, default=1_000_000)
    p.add_argument("--brokers", type=int, default=50)
    p.add_argument("--campaigns", type=int, default=100)
    p.add_argument("--url", help="PostgreSQL URL (default: the embedded server, database --database)")
    p.add_argument("--database", default="campaigns_bench", help="embedded database name (default campaigns_bench)")
    p.add_argument("--repeat", type=int, default=3, help="repetitions; medians are reported (default 3)")
    p.add_argument("--seed", type=int, default=6)
    p.add_argument("--invalid-share", type=float, default=DEFAULT_INVALID_SHARE,
                   help=f"share of the leads malformed on purpose (default {DEFAULT_INVALID_SHARE})")
    p.add_argument("--options", choices=("on", "off"), default="on",
                   help="the campaign options of CONTRACT §6 (quiet hours, goals, frequency caps) in the data set")
    p.add_argument("--due", type=int, default=100_000, help="steps to make due for (c) (default 100000)")
    p.add_argument("--workers", type=int, default=2, help="parallel chunk executors (default 2)")
    p.add_argument("--executor", choices=("process", "thread"), default="process")
    defaults = EngineSettings()
    p.add_argument("--max-chunks", type=int, default=defaults.max_chunks,
                   help=f"the Variable campaigns_max_chunks (default {defaults.max_chunks})")
    p.add_argument("--min-chunk-size", type=int, default=defaults.min_chunk_size,
                   help=f"campaigns_min_chunk_size (default {defaults.min_chunk_size})")
    p.add_argument("--budget", type=float, default=90, help="minutes after which no repetition starts (default 90)")
    p.add_argument("--statement-timeout", type=float, default=20, help="per SQL statement, minutes (default 20)")
    p.add_argument("--report", metavar="JSON", help="only print the report of an earlier results file")
    args = p.parse_args(argv)
    if not 0 <= args.invalid_share < 1:
        p.error("--invalid-share must be in [0, 1)")
    if args.brokers < 1 or args.campaigns < 1 or args.leads < args.brokers or args.repeat < 1 or args.workers < 1:
        p.error("need leads >= brokers >= 1, campaigns >= 1, repeat >= 1, workers >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        print(report(json.loads(Path(args.report).read_text())))
        return 0
    from bench.scenarios import Bench

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
