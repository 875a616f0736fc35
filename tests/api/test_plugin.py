"""The Airflow plugin: discovered by Airflow, mounted at /api/v1, and no DB or network work at import."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from include.campaigns.infra.paths import PROJECT_ROOT

SCRIPT = textwrap.dedent(
    """
    import json, socket
    import psycopg

    def refuse(*args, **kwargs):
        raise AssertionError("network or database access while importing the plugin")

    socket.socket.connect = refuse
    socket.create_connection = refuse
    psycopg.connect = refuse
    psycopg.Connection.connect = classmethod(refuse)

    from airflow import plugins_manager
    apps, _ = plugins_manager.get_fastapi_plugins()
    ours = [a for a in apps if a["name"] == "Campaign admin API"]
    app = ours[0]["app"]
    paths = sorted(r.path for r in app.routes if r.path.startswith("/campaigns"))
    views = [v for p in plugins_manager.get_plugin_info(["name", "external_views"]) if p["name"] == "campaigns_api"
             for v in p["external_views"]]
    print("RESULT " + json.dumps({"count": len(ours), "url_prefix": ours[0]["url_prefix"], "paths": paths,
                                  "class": type(app).__name__, "views": views}, default=str))
    """
)


@pytest.mark.timeout(180)
def test_airflow_loads_the_plugin_without_touching_the_database(airflow_home):
    env = {**airflow_home, "AIRFLOW_CONN_CAMPAIGNS_DB": "postgresql://nobody@127.0.0.1:1/unreachable"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=120)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["count"] == 1 and result["class"] == "FastAPI"
    assert result["url_prefix"] == "/api/v1"
    assert "/campaigns" in result["paths"] and "/campaigns/{campaign_id}/apply-to-lead/{lead_id}" in result["paths"]
    # the Campaigns page in Airflow's navigation, served by the same app (tests/api/test_campaigns_page.py opens it)
    [view] = result["views"]
    assert (view["name"], view["href"], view["url_route"], view["destination"]) == (
        "Campaigns", "/api/v1/analytics/ui/", "campaigns", "nav")


def test_api_v1_is_not_a_reserved_airflow_prefix():
    from airflow.api_fastapi.app import RESERVED_URL_PREFIXES

    assert not any("/api/v1".startswith(p) for p in RESERVED_URL_PREFIXES)
