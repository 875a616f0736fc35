"""The campaign database: which server (``campaigns_db``), engines, SQL files and bulk helpers.

``campaigns_db`` decides. ``AIRFLOW_CONN_CAMPAIGNS_DB`` wins, as everywhere in Airflow; a connection whose
extra says ``{"embedded": true}`` means the project's own PostgreSQL (``embedded.py``), and so does no
connection at all outside a task. Anything else must be a PostgreSQL connection; a broken one is an error
naming it, never a silent fall-back to the embedded server.

SQL longer than a line lives in ``sql/*.sql`` files next to the module that runs it, with ``:named`` binds:
``SQL = SqlFolder(__file__)`` then ``SQL("name")``. Bulk moves use psycopg's COPY under the same SQLAlchemy
connection, so they share its transaction.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from typing import Any

from psycopg.errors import UniqueViolation
from psycopg.rows import dict_row, tuple_row
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.sql.elements import TextClause

from include.campaigns.infra.connections import ConnectionConfigError, ConnectionSettings, lookup

log = logging.getLogger(__name__)

CONN_ID = "campaigns_db"
ENV_CONN = "AIRFLOW_CONN_CAMPAIGNS_DB"  # the standard Airflow variable, which always wins
DEFAULT_DATABASE = "campaigns"
POSTGRES_SCHEMES = ("postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg")


def sqlalchemy_url(uri: str) -> str:
    """An Airflow/libpq style URI as a SQLAlchemy psycopg 3 URL."""
    parts = urlsplit(uri.strip())
    if parts.scheme not in POSTGRES_SCHEMES:
        raise ConnectionConfigError(f"{CONN_ID} must be a PostgreSQL URL, got scheme {parts.scheme!r}")
    return urlunsplit(("postgresql+psycopg", parts.netloc, parts.path, parts.query, parts.fragment))


def is_embedded(conn: ConnectionSettings | None) -> bool:
    return conn is None or conn.extra.get("embedded") is True


def url_of(conn: ConnectionSettings) -> str:
    """A PostgreSQL connection's URL; the error names what is wrong with it."""
    if conn.conn_type not in (None, "postgres", "postgresql"):
        raise ConnectionConfigError(f"{CONN_ID} ({conn.source}) must be a postgres connection, got {conn.conn_type!r}")
    if not conn.host and "host=" not in (conn.raw_uri or ""):
        raise ConnectionConfigError(
            f"{CONN_ID} ({conn.source}) has no host: give host/port/schema/login, or extra "
            '{"embedded": true} for the project\'s own PostgreSQL')
    return sqlalchemy_url(conn.uri())


def database_url(database: str | None = None) -> str:
    """SQLAlchemy URL of the campaign database, starting the embedded server when it is the one."""
    conn = lookup(CONN_ID)
    if not is_embedded(conn):
        return url_of(conn)
    if conn is None:
        log.info("%s is not defined: using the project's embedded PostgreSQL", CONN_ID)
    from include.campaigns.infra import embedded

    return sqlalchemy_url(embedded.ensure_running(database or (conn and conn.schema) or DEFAULT_DATABASE))


def campaign_engine(url: str, **options: Any) -> Engine:
    """An engine whose sessions are in UTC.

    The engine's SQL names every zone it converts to (a lead's, a broker's), so the session's zone only decides
    how psycopg returns a timestamptz: in UTC with Python's own ``timezone.utc``, which its C loader builds
    directly; in any other zone, even ``Etc/UTC``, each value goes through ``astimezone`` (3x the cost of a
    claimed row's four timestamps)."""
    engine = create_engine(url, **{"pool_pre_ping": True, "pool_size": 4, "max_overflow": 4, **options})
    event.listen(engine, "connect", _session_in_utc)
    return engine


def _session_in_utc(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
    dbapi_connection.commit()


@functools.cache
def _engine_for(url: str) -> Engine:
    return campaign_engine(url)


def get_engine(url: str | None = None) -> Engine:
    return _engine_for(url or database_url())


class SqlFolder:
    """The ``sql/`` folder next to a module: ``SqlFolder(__file__)("name")`` is ``sql/name.sql``, parsed once."""

    def __init__(self, module_file: str) -> None:
        self.path = Path(module_file).with_name("sql")

    def __call__(self, name: str) -> TextClause:
        return _statement(self.path / f"{name}.sql")

    def source(self, name: str) -> str:
        """The text of ``sql/name.sql`` as it is, for psycopg itself (its placeholders, e.g. for COPY; a comment
        must not contain one)."""
        return _source(self.path / f"{name}.sql")

    def templated(self, name: str, **fragments: str) -> TextClause:
        """``sql/name.sql`` with each ``{{ key }}`` replaced by a SQL fragment the code builds (never input)."""
        return _templated(self.path / f"{name}.sql", tuple(sorted(fragments.items())))


def copy_new_rows(conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> bool:
    """COPY ``rows`` straight into ``table``, in a savepoint; False, with nothing written, if one of them is there
    already (a unique violation).

    The fast path of a write that must put each row in once: a row already there is rare (a retried batch), and
    going through a scratch table to an ``INSERT ... ON CONFLICT`` made every row be written twice and inserted
    speculatively. On False the caller takes that path; the unique keys, not this one, keep a row from going in
    twice."""
    try:
        with conn.begin_nested():
            copy_rows(conn, table, columns, rows)
    except UniqueViolation:
        return False
    return True


@functools.cache
def _source(path: Path) -> str:
    return path.read_text()


@functools.cache
def _templated(path: Path, fragments: tuple[tuple[str, str], ...]) -> TextClause:
    source = path.read_text()
    for key, fragment in fragments:
        token = "{{ " + key + " }}"
        if token not in source:
            raise KeyError(f"{path.name} has no {token}")
        source = source.replace(token, fragment)
    if "{{ " in source:
        raise KeyError(f"{path.name}: a {{{{ ... }}}} fragment was not given")
    return text(source)


@functools.cache
def _statement(path: Path) -> TextClause:
    return text(_source(path))


def sql_list(values) -> str:
    """Literal SQL list of names the code defines (registries, vocabulary), for ``IN (...)`` fragments."""
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def fetch_dicts(conn: Connection, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows as dicts, read by psycopg itself in the connection's transaction (``%(name)s`` placeholders):
    many times cheaper per row than SQLAlchemy's mappings, for the loads of the chunk executor."""
    return _fetch(conn, sql, params, dict_row)


def fetch_tuples(conn: Connection, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Rows as plain tuples, read by psycopg itself (``%(name)s`` placeholders): for big loads whose rows are
    unpacked at once, where SQLAlchemy's per-row fetch costs more than the query."""
    return _fetch(conn, sql, params, tuple_row)


def fetch_with_columns(conn: Connection, sql: str,
                       params: Mapping[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Rows as plain tuples with the names of the columns (``%(name)s`` placeholders), for a wide row unpacked by
    position. Executed through SQLAlchemy, so its cursor events see the statement (the fault tests hook the
    claim there); the rows come from psycopg's cursor at once, not one SQLAlchemy row at a time."""
    result = conn.exec_driver_sql(sql, params)
    try:
        return list(result.keys()), result.cursor.fetchall()
    finally:
        result.close()


def _fetch(conn: Connection, sql: str, params: Mapping[str, Any], row_factory: Any) -> list[Any]:
    with conn.connection.driver_connection.cursor(row_factory=row_factory) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def copy_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """COPY ``rows`` into ``table`` inside the connection's transaction; return the count.

    Binary, each column dumped as the type the table declares (one catalog read): psycopg then adapts every
    value in C with one dumper per column -- by the Python type alone it chose a timestamptz's dumper again
    for every value -- and the server parses no text."""
    raw = conn.connection.driver_connection
    types = column_types(conn, table, columns)
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    n = 0
    with raw.cursor() as cur:
        # the engine's statement events see the COPY like any other statement (tracing, the fault tests' cuts)
        conn.dispatch.before_cursor_execute(conn, cur, statement, (), None, False)
        with cur.copy(statement) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
                n += 1
        conn.dispatch.after_cursor_execute(conn, cur, statement, (), None, False)
    return n


def column_types(conn: Connection, table: str, columns: Sequence[str]) -> list[int]:
    """The type OIDs of ``table``'s ``columns``, in their order; an error names a column the table lacks."""
    found = dict(conn.execute(text(
        "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) "
        "AND attname = ANY(:cols) AND attnum > 0 AND NOT attisdropped"), {"t": table, "cols": list(columns)}).all())
    missing = [c for c in columns if c not in found]
    if missing:
        raise ValueError(f"COPY into {table}: no column(s) {', '.join(missing)}")
    return [int(found[c]) for c in columns]


SCRATCH_STATISTICS_TARGET = 10  # ANALYZE samples 300 rows per unit of target: 3,000 rows


def analyze(conn: Connection, table: str, columns: Sequence[str] = (),
            statistics_target: int | None = SCRATCH_STATISTICS_TARGET) -> None:
    """Fresh statistics for a table just bulk-loaded, before the planner relies on them. ``columns``: only those
    the statements after it filter or join on -- summarising the names and e-mails of a sample cost more than
    the rest together and steers no plan. ``statistics_target``: a run's scratch rows need their count and
    their keys' spread, which a 3,000-row sample gives; the server's 30,000 (target 100) cost 55 of a steady
    hour's 57 ms on its 50k staged leads. None: the server's own target, for a long-lived table."""
    listed = f" ({', '.join(columns)})" if columns else ""
    sampled = {} if statistics_target is None else {"default_statistics_target": str(int(statistics_target))}
    with local_settings(conn, sampled):
        conn.exec_driver_sql(f"ANALYZE {table}{listed}")


def known_rows(conn: Connection, table: str) -> float | None:
    """How many rows the planner's statistics say ``table`` has (-1: never analysed; None: no such table)."""
    return conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}).scalar()


GROWTH_TO_ANALYZE = 0.1  # autovacuum's own default (autovacuum_analyze_scale_factor)


def analyze_if_grown(conn: Connection, table: str, added_rows: int, at_least: int = 5_000) -> bool:
    """ANALYZE a large, long-lived table only once a load added more than ``at_least`` rows and a tenth of the
    rows its statistics know of: a steady hour's few thousand enrolments do not change the planner's picture of a
    million, and sampling them anyway cost 70 ms an hour. True if it analysed."""
    if added_rows <= at_least:
        return False
    known = known_rows(conn, table)
    if known is not None and added_rows <= GROWTH_TO_ANALYZE * known:
        return False
    analyze(conn, table, statistics_target=None)
    return True


BULK_WORK_MEM = "64MB"


def allow_bulk_memory(conn: Connection) -> None:
    """For a transaction whose statements sort or hash a whole sweep's rows (a first sweep stages every lead),
    which spill to disk at the default 4 MB. This transaction only; nothing else on the server sees it."""
    conn.exec_driver_sql(f"SET LOCAL work_mem = '{BULK_WORK_MEM}'")


def price_key_lookups(conn: Connection) -> None:
    """For a transaction that reads some thousands of rows by key in tables of millions: PostgreSQL's default
    cost model (``random_page_cost`` 4, for spinning disks) prices those index probes above reading a whole table
    into a hash, which a steady hour did for every lead it staged and every enrolment a chunk claimed. The model
    of a cached or SSD database, for this transaction only (``SET LOCAL``): the server's setting stays as it is."""
    conn.exec_driver_sql("SET LOCAL random_page_cost = 1.1")


KEY_PROBE_SHARE = 0.1  # below this share of a table, probing its key beat reading it into a hash (measured)


def few_rows_of(conn: Connection, table: str, rows: int) -> bool:
    """Whether ``rows`` rows are under a tenth of ``table`` as its statistics know it."""
    known = known_rows(conn, table)
    return known is not None and rows < KEY_PROBE_SHARE * known


@contextmanager
def local_settings(conn: Connection, settings: Mapping[str, str]) -> Iterator[None]:
    """``settings`` for the statements inside only (``SET LOCAL``), then the values the transaction had."""
    before = {name: conn.exec_driver_sql(f"SELECT current_setting('{name}')").scalar() for name in settings}
    for name, value in settings.items():
        conn.exec_driver_sql(f"SET LOCAL {name} = {value}")
    yield  # on an error the transaction is rolled back, and these settings with it
    for name, value in before.items():
        conn.exec_driver_sql(f"SET LOCAL {name} = {value}")


def joins_by_key(conn: Connection) -> AbstractContextManager[None]:
    """For statements that join a few thousand rows to tables of millions by their keys. PostgreSQL prices
    reading the whole table into a hash below that many index probes, even at ``price_key_lookups``' costs; it is
    the slower plan until about an eighth of the table (a steady hour's 50k snapshots of 1M: the update 0.40-0.49 s
    by a hash join, 0.17-0.27 s by probes). Hash and merge joins off for these statements only, then back."""
    return local_settings(conn, {"enable_hashjoin": "off", "enable_mergejoin": "off"})


def temp_table(conn: Connection, name: str, columns_sql: str) -> None:
    """A scratch table that disappears with the transaction."""
    conn.exec_driver_sql(f"CREATE TEMP TABLE {name} ({columns_sql}) ON COMMIT DROP")


def temp_table_like(conn: Connection, name: str, source_table: str, columns: Sequence[str]) -> None:
    """A scratch table with some columns of ``source_table`` (their types), gone with the transaction."""
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE {name} ON COMMIT DROP AS SELECT {', '.join(columns)} FROM {source_table} WITH NO DATA")
