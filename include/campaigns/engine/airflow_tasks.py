"""What each task of ``campaign_executor`` calls: the engine's stage, with the engine, settings and
Airflow's exceptions plugged in. Imported inside the tasks, never while the DAG file is parsed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from include.campaigns.engine.run import RunContext
from include.campaigns.engine.settings import EngineSettings
from include.campaigns.engine.stages import BY_ID, run_prepare_stage
from include.campaigns.infra.database import get_engine


def start_run(context: Mapping[str, Any]) -> dict[str, Any]:
    """A bad request fails without retries (AirflowFailException); a lost connection is retried like any task."""
    from airflow.sdk.exceptions import AirflowFailException

    from include.campaigns.engine.run import InvalidRunParams, resolve_run

    try:
        run = resolve_run(context["run_id"], context["params"], context.get("logical_date"),
                          context["dag_run"].run_after)
        return BY_ID["start_run"].load()(get_engine(), run)
    except InvalidRunParams as exc:
        raise AirflowFailException(str(exc)) from exc


def prepare(stage_id: str, run: Mapping[str, Any]) -> dict[str, Any]:
    return run_prepare_stage(stage_id, get_engine(), RunContext.from_dict(run))


def plan_due_steps(run: Mapping[str, Any]) -> list[int]:
    return BY_ID["plan_due_steps"].load()(get_engine(), RunContext.from_dict(run), EngineSettings.from_airflow())


def execute_chunk(run: Mapping[str, Any], chunk_no: int) -> dict[str, Any]:
    """Engine errors fail the task without retries, after the chunk committed everything else."""
    from airflow.sdk.exceptions import AirflowFailException

    from include.campaigns.engine.execute import engine_error_message

    result = BY_ID["execute_chunk"].load()(get_engine(), RunContext.from_dict(run), chunk_no,
                                           EngineSettings.from_airflow())
    message = engine_error_message(result)
    if message:
        raise AirflowFailException(message)
    return result


def finish_run(run: Mapping[str, Any]) -> dict[str, Any]:
    return BY_ID["finish_run"].load()(get_engine(), RunContext.from_dict(run))
