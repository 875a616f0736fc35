"""``make airflow AIRFLOW_PORT=<port>`` as the README shows it: Airflow's UI and scheduler start (standalone, its
children found on PATH), the login it prints works, and a DAG run's tasks reach the API server on that port (the
target sets ``AIRFLOW__API__BASE_URL`` with the port). In a throw-away AIRFLOW_HOME, on the test database; every
process it starts is stopped.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from include.campaigns.infra.paths import PROJECT_ROOT
from tests.cluster.cluster import kill_tree

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(predicate, timeout: float, what: str, proc: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} (make exited: {proc.poll()}):\n"
                                 f"{log.read_text(errors='replace')[-5000:]}")
        time.sleep(1)


def test_make_airflow_on_another_port_runs_the_dag(engine):
    port = free_port()
    home = Path(tempfile.mkdtemp(prefix="campaigns-make-airflow-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                # the log servers of the scheduler and the triggerer: free ports, other sessions use the defaults
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())})
    log = home / "make-airflow.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["make", "airflow", f"AIRFLOW_PORT={port}"], cwd=PROJECT_ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        banner = wait(lambda: re.search(rf"Airflow UI: http://localhost:{port} +login: admin / (\S+)", log.read_text()),
                      240, "the login banner", proc, log)
        base = f"http://localhost:{port}"

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/api/v2/monitor/health", timeout=3).status_code == 200
            except httpx.HTTPError:
                return False

        wait(healthy, 180, "the api-server", proc, log)
        r = httpx.post(f"{base}/auth/token", json={"username": "admin", "password": banner.group(1)}, timeout=30)
        assert r.status_code == 201, r.text
        http = httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {r.json()['access_token']}"})

        # unpaused at creation: the scheduler starts this hour's sweep as soon as the DAG is parsed
        def finished_run():
            runs = http.get("/api/v2/dags/campaign_executor/dagRuns").json().get("dag_runs", [])
            return next((run for run in runs if run["state"] in ("success", "failed")), None)

        run = wait(finished_run, 240, "a campaign_executor run to finish", proc, log)
        tis = http.get(f"/api/v2/dags/campaign_executor/dagRuns/{run['dag_run_id']}/taskInstances").json()
        assert run["state"] == "success", (tis, log.read_text(errors="replace")[-3000:])
        assert {t["task_id"] for t in tis["task_instances"] if t["state"] == "success"} >= {"start_run", "finish_run"}
    finally:
        kill_tree(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        kill_tree(proc, signal.SIGKILL)
        proc.wait(timeout=10)
        subprocess.run(["rm", "-rf", str(home)], check=False)
