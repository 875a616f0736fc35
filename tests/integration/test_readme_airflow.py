"""The README's "Running Airflow yourself" block, taken from README.md and run verbatim through bash: its
exports, two in-process DAG runs (this hour's sweep, an apply-to-lead), the stats table and the login.

The block uses ``$PWD``, so it runs in a throw-away folder that links the project's dags/, plugins/, include/,
rules/ and .venv/ and has its own .airflow/ (migrated and loaded with airflow_settings.yaml, as ``make``
does); the campaign data is the test database (``AIRFLOW_CONN_CAMPAIGNS_DB``) with the demo data of ``make demo``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from include.campaigns.infra.paths import PROJECT_ROOT
from tests.support.readme import readme_block

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

BIN = Path(sys.executable).parent


def test_the_running_airflow_yourself_block_runs_verbatim(engine, tmp_path):
    block = readme_block("## Running Airflow yourself")
    for name in ("dags", "plugins", "include", "rules", ".venv"):
        (tmp_path / name).symlink_to(PROJECT_ROOT / name)
    home = tmp_path / ".airflow"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__") and k != "AIRFLOW_HOME"}
    env["AIRFLOW_CONN_CAMPAIGNS_DB"] = os.environ["AIRFLOW_CONN_CAMPAIGNS_DB"]
    setup = {**env, "AIRFLOW_HOME": str(home), "PYTHONPATH": str(tmp_path),
             "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "dags")}
    for args in ([BIN / "airflow", "db", "migrate"], [BIN / "campaigns", "settings", "load"],
                 [BIN / "campaigns", "demo", "load", "--leads", "2000", "--reference-time", "now"]):
        done = subprocess.run([str(a) for a in args], env=setup, cwd=tmp_path, capture_output=True, text=True,
                              timeout=240)
        assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}\n{done.stderr[-2000:]}"

    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    out = done.stdout
    assert done.returncode == 0, f"{out[-4000:]}\n{done.stderr[-3000:]}"
    finished = [line for line in out.splitlines() if "DagRun Finished" in line]
    assert len(finished) == 2 and all("state=success" in line for line in finished), finished or out[-4000:]
    assert "TOTAL" in out and "last run:" in out  # campaigns stats
    password = out.rstrip().splitlines()[-1]
    assert password and " " not in password, out[-500:]  # campaigns airflow password admin: the password alone
    assert (home / "simple_auth_manager_passwords.json.generated").read_text().count(password) == 1
