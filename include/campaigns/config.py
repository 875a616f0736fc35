"""Where the project lives and which database it talks to.

The campaign database is the Airflow connection ``campaigns_db``. The standard
``AIRFLOW_CONN_CAMPAIGNS_DB`` variable wins; a connection marked ``{"embedded": true}``
(the default in ``airflow_settings.yaml``), or no connection at all, means the
project's own embedded PostgreSQL, started on demand.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONN_ID = "campaigns_db"
ENV_CONN = "AIRFLOW_CONN_CAMPAIGNS_DB"
DEFAULT_DATABASE = "campaigns"


def airflow_env_defaults() -> dict[str, str]:
    """The environment the README documents for running Airflow on this project."""
    return {
        "AIRFLOW_HOME": str(PROJECT_ROOT / ".airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": str(PROJECT_ROOT),
    }


def apply_airflow_env_defaults() -> None:
    """Fill in the documented Airflow environment where the caller left it unset."""
    for key, value in airflow_env_defaults().items():
        os.environ.setdefault(key, value)


def sqlalchemy_url(uri: str) -> str:
    """Turn an Airflow/libpq style URI into a SQLAlchemy psycopg 3 URL."""
    uri = uri.strip()
    if uri.startswith("{"):
        uri = _json_connection_to_uri(json.loads(uri))
    parts = urlsplit(uri)
    scheme = parts.scheme
    if scheme in ("postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg"):
        scheme = "postgresql+psycopg"
    else:
        raise ValueError(f"campaigns_db must be a PostgreSQL URL, got scheme {parts.scheme!r}")
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def _json_connection_to_uri(conn: dict) -> str:
    login = conn.get("login") or "postgres"
    password = conn.get("password") or ""
    host = conn.get("host") or "127.0.0.1"
    port = conn.get("port") or 5432
    schema = conn.get("schema") or DEFAULT_DATABASE
    auth = f"{login}:{password}@" if password else f"{login}@"
    return f"postgresql://{auth}{host}:{port}/{schema}"


def _is_embedded(extra: object) -> bool:
    if isinstance(extra, str):
        try:
            extra = json.loads(extra or "{}")
        except json.JSONDecodeError:
            return False
    return isinstance(extra, dict) and bool(extra.get("embedded"))


def _airflow_connection_uri() -> str | None:
    """The ``campaigns_db`` connection as Airflow sees it, or None when Airflow has none.

    Airflow is optional here: plain Python callers (tests, scripts) fall through to the
    embedded server.
    """
    try:
        from airflow.sdk import BaseHook
    except Exception:  # pragma: no cover - Airflow not installed
        return None
    try:
        conn = BaseHook.get_connection(CONN_ID)
    except Exception:
        return None
    if _is_embedded(conn.extra):
        return None
    return conn.get_uri()


def database_url(database: str | None = None) -> str:
    """SQLAlchemy URL of the campaign database, starting the embedded server if it is the one."""
    env_uri = os.environ.get(ENV_CONN, "").strip()
    if env_uri and not (env_uri.startswith("{") and _is_embedded(json.loads(env_uri).get("extra"))):
        return sqlalchemy_url(env_uri)
    uri = _airflow_connection_uri()
    if uri:
        return sqlalchemy_url(uri)
    from include.campaigns import embedded

    return sqlalchemy_url(embedded.ensure_running(database or DEFAULT_DATABASE))
