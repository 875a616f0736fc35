"""Validation's read of the staged leads, old and new side by side: ``python -m bench.read_frame [--rows N]``.

Builds a table shaped like ``run_leads`` (N rows, nulls and several brokers) in the embedded database
``campaigns_readbench`` (or ``--url``), then times ``pd.read_sql`` (the reader before issue 14) and
``copy_frame`` (COPY as CSV, the reader now) alternately, and GX's suite on the frame; prints medians.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime, timezone

import pandas as pd
from sqlalchemy import text

from include.campaigns.infra.database import copy_frame, get_engine, sqlalchemy_url

QUERY = ("SELECT lead_id, broker_id, stage, score, email, phone, last_activity_at, timezone FROM read_bench "
         "WHERE lead_id > {param} ORDER BY lead_id")
FILL = """
CREATE TABLE read_bench AS
SELECT g AS lead_id, (g % 50) + 1 AS broker_id,
       (ARRAY['nuevo', 'contactado', 'visita', 'negociacion'])[g % 4 + 1] AS stage, (g % 101)::numeric AS score,
       CASE WHEN g % 7 = 0 THEN NULL ELSE 'lead' || g || '@example.com' END AS email,
       CASE WHEN g % 10 = 0 THEN NULL ELSE '+3460' || lpad(g::text, 7, '0') END AS phone,
       now() - (g % 5000) * interval '17 minutes' AS last_activity_at, 'Europe/Madrid'::text AS timezone
FROM generate_series(1, :rows) g
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", help="PostgreSQL URL (default: the embedded server, database campaigns_readbench)")
    args = parser.parse_args()
    if args.url:
        engine = get_engine(args.url)
    else:
        from include.campaigns.infra import embedded

        engine = get_engine(sqlalchemy_url(embedded.ensure_running("campaigns_readbench")))
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS read_bench")
        conn.execute(text(FILL), {"rows": args.rows})

    def read_sql() -> pd.DataFrame:
        with engine.begin() as conn:
            frame = pd.read_sql(text(QUERY.format(param=":p")), conn, params={"p": 0})
        frame["last_activity_at"] = pd.to_datetime(frame["last_activity_at"], utc=True)
        return frame

    def read_copy() -> pd.DataFrame:
        with engine.begin() as conn:
            return copy_frame(conn, QUERY.format(param="%(p)s"), {"p": 0}, numbers=("lead_id", "broker_id", "score"),
                              timestamps=("last_activity_at",))

    seconds: dict[str, list[float]] = {"pd.read_sql": [], "copy_frame": []}
    frame = None
    for _ in range(args.repeat):  # alternated, so both see the same load
        for name, read in (("pd.read_sql", read_sql), ("copy_frame", read_copy)):
            started = time.perf_counter()
            frame = read()
            seconds[name].append(time.perf_counter() - started)
    for name, values in seconds.items():
        print(f"{name:12s} {args.rows:,} rows: median {statistics.median(values):.2f} s "
              f"({', '.join(f'{v:.2f}' for v in values)})")
    from include.campaigns.quality.gx_runner import find_rejects

    pipelines = {b: ("nuevo", "contactado", "visita") for b in range(1, 51)}
    for label in ("first call, GX start-up included", "second call"):
        started = time.perf_counter()
        rejects = find_rejects(frame, datetime.now(timezone.utc), pipelines)
        print(f"GX suite on the frame ({label}): {time.perf_counter() - started:.2f} s, {len(rejects):,} rejects")


if __name__ == "__main__":
    main()
