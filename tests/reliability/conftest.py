"""Fixtures of the reliability suite: the invariant check after every case, fast Airflow retries,
environments for worker subprocesses, and the figures written to ``build/reliability-figures.json``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from include.campaigns.infra.paths import PROJECT_ROOT, airflow_env_defaults
from tests.integration.conftest import campaign_dag, run_dag  # noqa: F401 - the same fixtures here
from tests.reliability.invariants import Report, check
from tests.support.dag_runs import task_states, task_tries, xcom_value  # noqa: F401 - used by the cases
from tests.support.faults import FAULTS

FIGURES_FILE = PROJECT_ROOT / "build" / "reliability-figures.json"
FIGURES: dict[str, int] = {"cases_run": 0, "cases_passed": 0, "cases_xfailed_known_bugs": 0, "invariant_checks": 0,
                           "duplicates_found": 0, "steps_lost": 0, "other_problems": 0, "steps_checked": 0,
                           "deliveries_checked": 0, "known_bug_steps_lost": 0, "known_bug_duplicates": 0}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if "tests/reliability/" in str(item.fspath) and report.when == "call":
        FIGURES["cases_run"] += 1
        FIGURES["cases_passed"] += int(report.passed)
        FIGURES["cases_xfailed_known_bugs"] += int(hasattr(report, "wasxfail") and report.skipped)
        item.rel_call_failed = report.failed


def pytest_terminal_summary(terminalreporter):
    if not FIGURES["cases_run"]:
        return
    figures = {**FIGURES, "faults_injected": sum(FAULTS.values.values()), "faults_by_kind": dict(sorted(FAULTS.values.items()))}
    FIGURES_FILE.parent.mkdir(exist_ok=True)
    FIGURES_FILE.write_text(json.dumps(figures, indent=2) + "\n")
    terminalreporter.write_sep("-", "reliability figures")
    for key, value in figures.items():
        terminalreporter.write_line(f"{key}: {value}")


class Invariants:
    def __init__(self, engine) -> None:
        self.engine = engine
        self.calls = 0

    def __call__(self, **kwargs) -> Report:
        report = check(self.engine, **kwargs)
        self.calls += 1
        FIGURES["invariant_checks"] += 1
        FIGURES["duplicates_found"] += len(report.duplicates)
        FIGURES["steps_lost"] += len(report.lost)
        FIGURES["other_problems"] += len(report.problems)
        FIGURES["steps_checked"] += report.steps_checked
        FIGURES["deliveries_checked"] += report.deliveries_checked
        assert report.ok, str(report)
        return report


def known_bug_report(engine, **kwargs) -> Report:
    """The invariants of a case that shows a known bug (xfail): counted apart, asserted by the caller."""
    report = check(engine, **kwargs)
    FIGURES["known_bug_steps_lost"] += len(report.lost)
    FIGURES["known_bug_duplicates"] += len(report.duplicates)
    return report


@pytest.fixture
def invariants(engine, request) -> Iterator[Invariants]:
    """Call it at the end of the case (with ``at=`` the last run time); if a case does not, it runs at teardown."""
    inv = Invariants(engine)
    yield inv
    if inv.calls == 0 and not getattr(request.node, "rel_call_failed", False):
        inv()


@pytest.fixture
def fast_retries(campaign_dag):  # noqa: F811
    """Airflow retries the failed task at once (dag.test() would otherwise wait the DAG's 30 s backoff), up to
    6 times; start_run keeps its retries=0. Restored afterwards: the DAG object is shared. (dag.test() still
    idles 1 s whenever nothing is schedulable, i.e. once per retry.)"""
    saved = {t.task_id: (t.retries, t.retry_delay, t.retry_exponential_backoff) for t in campaign_dag.tasks}
    for t in campaign_dag.tasks:
        if t.retries:
            t.retries = 6
        t.retry_delay = timedelta(0)
        t.retry_exponential_backoff = 0
    yield campaign_dag
    for t in campaign_dag.tasks:
        t.retries, t.retry_delay, t.retry_exponential_backoff = saved[t.task_id]


@pytest.fixture(scope="session")
def admin_uri(database_url) -> str:
    """libpq URI of the test database's server, for pg_terminate_backend and friends."""
    from include.campaigns.infra.database import ENV_CONN

    return os.environ[ENV_CONN]


@pytest.fixture(scope="session")
def private_airflow_db(tmp_path_factory) -> str:
    """A copy of Airflow's metadata database for subprocesses, so a DAG run in another process never
    fights this process's dag.test() for SQLite's write lock."""
    from airflow.configuration import conf

    url = conf.get("database", "sql_alchemy_conn")
    if not url.startswith("sqlite:///"):  # a server database takes concurrent writers: share it
        return url
    target = tmp_path_factory.mktemp("airflow-meta") / "airflow.db"
    src = sqlite3.connect(url[len("sqlite:///"):])
    dst = sqlite3.connect(target)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return f"sqlite:///{target}"


@pytest.fixture
def subprocess_env(admin_uri, private_airflow_db) -> dict[str, str]:
    """The environment of a worker subprocess: the project's Airflow settings (Makefile exports),
    this test database, a private metadata database."""
    from include.campaigns.infra.database import ENV_CONN

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_CHANNEL_", "REL_", "PYTEST"))}
    env.update(airflow_env_defaults())
    env.update({ENV_CONN: admin_uri, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": private_airflow_db,
                "PYTHONPATH": str(PROJECT_ROOT), "PYTHONUNBUFFERED": "1"})
    return env


def start_worker(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A child process in its own process group (killed as a group), output to ``log``."""
    out = open(log, "wb")  # noqa: SIM115 - closed with the process by the caller's finaliser
    return subprocess.Popen([sys.executable, *args], cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)


@pytest.fixture
def request_cleanup():
    """``request_cleanup(procs)``: the processes in that list are killed (group) at teardown, whatever happened."""
    lists: list[list[subprocess.Popen]] = []
    yield lists.append
    for procs in lists:
        for proc in procs:
            stop_process(proc)


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
    proc.wait(timeout)


def wait_backend_gone(engine, application_name: str, timeout: float = 15) -> None:
    """After a client was killed, PostgreSQL notices the closed socket and rolls its transaction back."""
    from sqlalchemy import text

    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as c:
            left = c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :a"),
                             {"a": application_name}).scalar()
        if not left:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{left} backend(s) of {application_name} still alive after {timeout} s")
        time.sleep(0.05)
