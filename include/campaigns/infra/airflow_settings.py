"""Load ``airflow_settings.yaml`` (Astronomer format) into the local Airflow metadata database.

The Astro CLI normally does this; we do not use it, so the bootstrap calls this instead.
Re-loading overwrites: the file is the single source of local settings.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from include.campaigns.infra.paths import PROJECT_ROOT


def read_settings(path: str | Path | None = None) -> dict:
    data = yaml.safe_load(Path(path or PROJECT_ROOT / "airflow_settings.yaml").read_text()) or {}
    section = data.get("airflow") or {}
    return {
        "connections": section.get("connections") or [],
        "pools": section.get("pools") or [],
        "variables": section.get("variables") or [],
    }


def load_airflow_settings(path: str | Path | None = None) -> dict[str, int]:
    from airflow.models import Connection, Pool, Variable
    from airflow.utils.session import create_session

    settings = read_settings(path)
    with create_session() as session:
        for c in settings["connections"]:
            extra = c.get("conn_extra")
            conn = Connection(
                conn_id=c["conn_id"],
                conn_type=c.get("conn_type") or "generic",
                host=c.get("conn_host"),
                schema=c.get("conn_schema"),
                login=c.get("conn_login"),
                password=c.get("conn_password"),
                port=c.get("conn_port"),
                extra=json.dumps(extra) if isinstance(extra, dict) else extra,
            )
            existing = session.query(Connection).filter(Connection.conn_id == conn.conn_id).one_or_none()
            if existing is not None:
                session.delete(existing)
                session.flush()
            session.add(conn)
        for p in settings["pools"]:
            Pool.create_or_update_pool(
                name=p["pool_name"],
                slots=int(p["pool_slot"]),
                description=p.get("pool_description") or "",
                include_deferred=False,
                session=session,
            )
    for v in settings["variables"]:
        Variable.set(v["variable_name"], v["variable_value"])
    return {k: len(v) for k, v in settings.items()}
