"""The floor: what PostgreSQL itself needs to move the same rows, on the same database, timed the same way --
the leads out (``COPY ... TO STDOUT``, read by the client) and a scenario's log rows in (``COPY FROM STDIN``
into ``bench.floor_logs``, a table like campaign_logs with its indexes, committed)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine

from include.campaigns.devtools.synthetic_leads import LEAD_COLUMNS
from include.campaigns.engine.logs import LOG_COLUMNS


def create_floor_table(conn) -> None:
    conn.exec_driver_sql("CREATE TABLE bench.floor_logs (LIKE campaign_logs INCLUDING ALL)")


def leads_out(engine: Engine) -> dict[str, Any]:
    """PostgreSQL moving the leads out: COPY ... TO STDOUT, every block read by the client."""
    proxy = engine.raw_connection()
    try:
        raw = proxy.driver_connection
        raw.commit()
        t = time.perf_counter()
        nbytes = rows = 0
        with raw.cursor() as cur, cur.copy(f"COPY (SELECT {', '.join(LEAD_COLUMNS)} FROM leads) TO STDOUT") as cp:
            for block in cp:
                nbytes += len(block)
            rows = cur.rowcount
        raw.commit()
        seconds = time.perf_counter() - t
    finally:
        proxy.close()
    return {"rows": rows, "seconds": round(seconds, 4), "bytes": nbytes}


def logs_in(engine: Engine, run_id: str) -> dict[str, Any]:
    """PostgreSQL taking the run's log rows in: COPY FROM STDIN into a table like campaign_logs, committed."""
    cols = ", ".join(LOG_COLUMNS)
    proxy = engine.raw_connection()
    try:
        raw = proxy.driver_connection
        buf = bytearray()
        with raw.cursor() as cur:
            with cur.copy(f"COPY (SELECT {cols} FROM campaign_logs WHERE run_id = %s) TO STDOUT", (run_id,)) as cp:
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
