"""The README's "A curl session", taken from README.md itself and run through bash against a real
``airflow api-server`` after what ``make demo`` does (demo data at the current hour, admin granted brokers 1 2 3).

The server listens on a free port, given to the session as ``AIRFLOW_PORT`` (the README's own variable). Every
curl of the session has ``--fail-with-body`` and bash runs with ``-e -o pipefail``, so a failing request fails
the test with the server's answer. Also checked through the same server: no third-party warning on the
session's stdout, and ``/api/v1/docs`` with every asset it loads.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from include.campaigns.infra.paths import PROJECT_ROOT
from tests.support.airflow_server import AIRFLOW, api_server
from tests.api.test_docs_offline import assert_docs_self_contained
from tests.support.readme import readme_block

pytestmark = pytest.mark.integration

CAMPAIGNS = str(Path(sys.executable).with_name("campaigns"))


def run(args: list[str], env: dict[str, str], timeout: int = 180) -> subprocess.CompletedProcess:
    done = subprocess.run(args, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.timeout(300)
def test_the_readme_curl_session_runs_top_to_bottom(airflow_home, engine):
    session = readme_block("### A curl session")
    # what `make demo` does before it (its last step, the DAG run, is not needed by the session)
    run([CAMPAIGNS, "demo", "load", "--leads", "2000", "--reference-time", "now"], airflow_home)
    run([CAMPAIGNS, "admins", "grant", "admin", "1", "2", "3"], airflow_home)
    run([AIRFLOW, "dags", "reserialize"], airflow_home)  # what the dag-processor of `make airflow` does

    with api_server(airflow_home) as base:
        port = base.rsplit(":", 1)[1]
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", session], env={**airflow_home, "AIRFLOW_PORT": port},
                              cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"the README session failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        assert "warning" not in done.stdout.lower(), done.stdout

        lines = done.stdout.splitlines()
        tpl, lead, stage = re.fullmatch(r"template (\d+), lead (\d+), stage (\S+)", lines[0]).groups()
        answers = [json.loads(line) for line in lines[1:]]
        steps, status, applied, campaign, listed = answers[:3], answers[3], answers[4], answers[5], answers[6]
        assert [s["step_number"] for s in steps] == [1, 2, 3] and steps[0]["message_template_id"] == int(tpl)
        assert status["status"] == "ACTIVE" and campaign["broker_id"] == 1
        assert applied["conf"] == {"campaign_id": campaign["id"], "lead_id": int(lead)} and applied["dag_run_id"]
        assert [s["action"] for s in campaign["steps"]] == ["send_message", "make_call", "update_stage"]
        assert campaign["steps"][2]["config"] == {"stage": stage}
        assert campaign["id"] in [c["id"] for c in listed["items"]]
        with engine.connect() as c:
            assert c.execute(text("SELECT broker_id, score >= 70 FROM leads WHERE id = :l"), {"l": int(lead)}).one() \
                == (1, True)

        with httpx.Client(base_url=base, timeout=30) as http:  # the run the session started, in Airflow
            pw = run([CAMPAIGNS, "airflow", "password", "admin"], airflow_home).stdout.strip()
            token = http.post("/auth/token", json={"username": "admin", "password": pw}).json()["access_token"]
            r = http.get(f"/api/v2/dags/campaign_executor/dagRuns/{applied['dag_run_id']}",
                         headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200 and r.json()["conf"] == applied["conf"], r.text
            assert_docs_self_contained(http, "/api/v1/docs")
