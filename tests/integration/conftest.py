from __future__ import annotations

from datetime import datetime

import pytest

from include.campaigns.infra.paths import PROJECT_ROOT


@pytest.fixture(scope="session")
def campaign_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    return bag.dags["campaign_executor"]


@pytest.fixture
def run_dag(campaign_dag, engine):
    """Run the real DAG in-process: at a logical date (scheduled run) or, with manual=True, with no
    logical date and ``run_after`` = at (a manual run, as the API and the UI start them)."""

    def _run(at: datetime, conf: dict | None = None, manual: bool = False):
        # Always both params: dag.test() keeps the last run_conf on the (shared) DAG object.
        conf = {"campaign_id": None, "lead_id": None, **(conf or {})}
        if manual:
            return campaign_dag.test(run_after=at, logical_date=None, run_conf=conf)
        return campaign_dag.test(logical_date=at, run_conf=conf)

    return _run


@pytest.fixture
def no_retries(campaign_dag):
    """A run whose task fails ends at once (the DAG's retries would wait 30 s and more); restored afterwards."""
    saved = {t.task_id: t.retries for t in campaign_dag.tasks}
    for t in campaign_dag.tasks:
        t.retries = 0
    yield campaign_dag
    for t in campaign_dag.tasks:
        t.retries = saved[t.task_id]
