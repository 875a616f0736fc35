"""Reading the project's Airflow connections, strictly.

Airflow's own lookups turn every backend failure into "not defined", which would let a typo or an
unreachable metadata database silently become a default. Here:

* a connection that is defined but malformed (extra that is not a JSON object, a wrong scheme) is a
  ``ConnectionConfigError`` naming it;
* outside a task, the backends (environment variables, then the metadata database) are asked one by one
  and a backend that fails is an error naming the connection, never "not defined";
* inside a task, the worker asks the API server, which cannot tell "missing" from "unreachable": there,
  "not defined" is an error for every connection (a deployment always defines them).

Which defaults a missing connection may have is the caller's decision (see ``database.py``,
``channels/registry.py``).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any


class ConnectionConfigError(RuntimeError):
    """A connection is missing, malformed or unreadable; the message names it and says how to fix it."""


@dataclass(frozen=True)
class ConnectionSettings:
    conn_id: str
    conn_type: str | None = None
    host: str | None = None
    port: int | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # where it was found, for messages
    raw_uri: str | None = field(default=None, repr=False)  # as given in AIRFLOW_CONN_X, kept verbatim

    def uri(self) -> str:
        if self.raw_uri:
            return self.raw_uri
        from airflow.sdk import Connection

        return Connection(conn_id=self.conn_id, conn_type=self.conn_type or "generic", host=self.host,
                          port=self.port, schema=self.schema, login=self.login, password=self.password,
                          extra=json.dumps(self.extra)).get_uri()


def env_var(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def in_task() -> bool:
    """Whether this process is an Airflow task talking to its supervisor."""
    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return getattr(runner, "SUPERVISOR_COMMS", None) is not None


def parse_extra(conn_id: str, extra: Any) -> dict[str, Any]:
    if extra is None or extra == "":
        return {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except json.JSONDecodeError as exc:
            raise ConnectionConfigError(f"connection {conn_id}: its extra is not valid JSON ({exc})") from None
    if not isinstance(extra, dict):
        raise ConnectionConfigError(f"connection {conn_id}: its extra must be a JSON object, got {type(extra).__name__}")
    return extra


def _from_env(conn_id: str, raw: str) -> ConnectionSettings:
    """``AIRFLOW_CONN_X`` as Airflow reads it: a URI, or a JSON object of the connection's fields."""
    raw = raw.strip()
    name = env_var(conn_id)
    if raw.startswith("{"):
        try:
            d = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConnectionConfigError(f"{name} is not valid JSON ({exc})") from None
        if not isinstance(d, dict):
            raise ConnectionConfigError(f"{name} must be a URI or a JSON object")
        port = d.get("port")
        return ConnectionSettings(conn_id, d.get("conn_type"), d.get("host"), int(port) if port else None,
                                  d.get("schema"), d.get("login"), d.get("password"),
                                  parse_extra(conn_id, d.get("extra")), source=name)
    from airflow.sdk import Connection

    try:
        conn = Connection.from_uri(raw, conn_id=conn_id)
    except Exception as exc:  # Airflow's URI parser raises several types
        raise ConnectionConfigError(f"{name} is not a valid connection URI ({type(exc).__name__}: {exc})") from None
    return _settings(conn, source=name, raw_uri=raw)


def _settings(conn: Any, source: str, raw_uri: str | None = None) -> ConnectionSettings:
    return ConnectionSettings(conn.conn_id, conn.conn_type, conn.host, conn.port, conn.schema, conn.login,
                              conn.password, parse_extra(conn.conn_id, conn.extra), source=source, raw_uri=raw_uri)


def lookup(conn_id: str) -> ConnectionSettings | None:
    """The connection, or None when no backend defines it (outside a task only)."""
    raw = os.environ.get(env_var(conn_id))
    if raw is not None and raw.strip():
        return _from_env(conn_id, raw)
    if in_task():
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            return _settings(BaseHook.get_connection(conn_id), source="the Airflow API server")
        except AirflowNotFoundException:
            raise ConnectionConfigError(
                f"connection {conn_id} is not defined (or the Airflow API server could not be asked for it)"
            ) from None
    from airflow.configuration import ensure_secrets_loaded

    for backend in ensure_secrets_loaded():
        name = type(backend).__name__
        try:
            conn = backend.get_connection(conn_id=conn_id)
        except Exception as exc:
            raise ConnectionConfigError(
                f"connection {conn_id}: could not be read from {name} ({type(exc).__name__}: {exc})") from exc
        if conn is not None:
            return _settings(conn, source=name)
    return None


def require(conn_id: str, hint: str) -> ConnectionSettings:
    conn = lookup(conn_id)
    if conn is None:
        raise ConnectionConfigError(f"connection {conn_id} is not defined: {hint}")
    return conn
