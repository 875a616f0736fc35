"""What a finished ``dag.test()`` run left in Airflow's metadata database: task states, tries, results."""

from __future__ import annotations

import json

from sqlalchemy import select


def _task_instances(dag_run):
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as s:
        tis = s.query(TaskInstance).filter(TaskInstance.dag_id == dag_run.dag_id,
                                           TaskInstance.run_id == dag_run.run_id).all()
        return [((t.task_id if t.map_index < 0 else f"{t.task_id}[{t.map_index}]"), str(t.state), t.try_number)
                for t in tis]


def task_tries(dag_run) -> dict[str, int]:
    """task_id (map index appended for mapped tasks) -> the try that finished it."""
    return {task: tries for task, _state, tries in _task_instances(dag_run)}


def task_states(dag_run) -> dict[str, str]:
    return {task: state for task, state, _tries in _task_instances(dag_run)}


def xcom_value(dag_run, task_id: str):
    """What a task of a finished dag.test() run returned."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as s:
        value = s.scalar(select(XComModel.value).where(
            XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id,
            XComModel.task_id == task_id, XComModel.key == "return_value"))
    return json.loads(value) if isinstance(value, (str, bytes)) else value
