"""The DAG loads, is wired as the contract says, and its file stays thin."""

from __future__ import annotations

import subprocess
import sys

import pytest

from include.campaigns.infra.paths import PROJECT_ROOT


@pytest.fixture(scope="module")
def bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


def test_no_import_errors(bag):
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"campaign_executor"}


def test_contract_settings(bag):
    dag = bag.dags["campaign_executor"]
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.timetable.expression == "0 * * * *"  # @hourly
    assert {"campaigns"} <= set(dag.tags)
    assert dag.doc_md and "apply" in dag.doc_md.lower()
    assert set(dag.params.keys()) == {"campaign_id", "lead_id"}
    for name in ("campaign_id", "lead_id"):
        assert dag.params.get_param(name).value is None
        assert dag.params.get_param(name).schema["type"] == ["null", "integer"]


def test_tasks_and_retries(bag):
    dag = bag.dags["campaign_executor"]
    assert [t.task_id for t in dag.topological_sort()] == [
        "start_run", "snapshot_leads", "validate_snapshot", "evaluate_triggers", "enrol_leads",
        "plan_due_steps", "execute_chunk", "finish_run",
    ]
    for task in dag.tasks:
        assert task.retries >= 2, task.task_id  # bad params fail at once through AirflowFailException
    assert dag.get_task("execute_chunk").pool == "campaign_actions"


def test_param_schema_rejects_non_integers(bag):
    from airflow.sdk.definitions.param import ParamsDict

    from airflow.sdk.exceptions import ParamValidationError

    params = ParamsDict(bag.dags["campaign_executor"].params)
    with pytest.raises(ParamValidationError, match="campaign_id"):
        params.update({"campaign_id": "seven"})
    params.update({"campaign_id": 7, "lead_id": 8})
    assert params.validate() == {"campaign_id": 7, "lead_id": 8}


def test_parsing_the_dag_does_no_heavy_imports():
    """DAG-parse time: no database driver, no rule engine, no pandas/GX, no engine code (only the stage list)."""
    code = (
        "import sys, runpy; runpy.run_path('dags/campaign_executor.py');"
        "heavy = [m for m in ('psycopg', 'durable', 'rules.campaign_triggers', 'pandas', "
        "'great_expectations', 'include.campaigns.infra.database', 'include.campaigns.engine.run') "
        "if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1:] in ([], [""]), out.stdout
