"""Starting a ``campaign_executor`` run from the admin API.

A trigger is any callable ``(dag_id, conf, username) -> TriggeredRun`` that raises ``DagNotAvailable``
when the DAG cannot be run. Inside the Airflow API server the default is :class:`AirflowDagRunTrigger`,
which creates the run exactly as Airflow's own ``POST /api/v2/dags/{dag_id}/dagRuns`` does
(``SerializedDAG.create_dagrun`` on the latest serialized version, run type MANUAL, state QUEUED,
run id from the DAG's timetable); the scheduler then picks it up. Tests of the app alone inject a recorder.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DAG_ID = "campaign_executor"


@dataclass(frozen=True)
class TriggeredRun:
    dag_run_id: str
    dag_is_paused: bool | None = None


class DagNotAvailable(Exception):
    """The DAG is unknown to Airflow, stale, broken or refuses manual runs (HTTP 503)."""


DagRunTrigger = Callable[[str, dict[str, Any], str], TriggeredRun]


class AirflowDagRunTrigger:
    """Create a manual DAG run in the Airflow metadata database (inside the API server)."""

    def __init__(self) -> None:
        self._dag_bag = None
        self._lock = threading.Lock()

    def _bag(self):
        with self._lock:
            if self._dag_bag is None:
                from airflow.api_fastapi.common.dagbag import create_dag_bag

                self._dag_bag = create_dag_bag()
            return self._dag_bag

    def __call__(self, dag_id: str, conf: dict[str, Any], username: str) -> TriggeredRun:
        from sqlalchemy import select

        from airflow.api_fastapi.core_api.datamodels.dag_run import TriggerDAGRunPostBody
        from airflow.exceptions import ParamValidationError
        from airflow.models.dag import DagModel
        from airflow.utils.session import create_session
        from airflow.utils.state import DagRunState
        from airflow.utils.types import DagRunTriggeredByType, DagRunType

        with create_session() as session:
            dm = session.scalar(select(DagModel).where(~DagModel.is_stale, DagModel.dag_id == dag_id).limit(1))
            if dm is None:
                raise DagNotAvailable(
                    f"DAG {dag_id!r} is not known to Airflow yet (has the dag-processor parsed dags/{dag_id}.py?)"
                )
            if dm.has_import_errors:
                raise DagNotAvailable(f"DAG {dag_id!r} has import errors and cannot be triggered")
            allowed = getattr(dm, "allowed_run_types", None)
            if allowed is not None and DagRunType.MANUAL not in allowed:
                raise DagNotAvailable(f"DAG {dag_id!r} does not allow manual runs")
            dag = self._bag().get_latest_version_of_dag(dag_id, session=session)
            if dag is None:
                raise DagNotAvailable(f"DAG {dag_id!r} has no serialized version yet")
            try:
                params = TriggerDAGRunPostBody(logical_date=None, conf=conf).validate_context(dag)
                dag_run = dag.create_dagrun(
                    run_id=params["run_id"],
                    logical_date=params["logical_date"],
                    data_interval=params["data_interval"],
                    run_after=params["run_after"],
                    conf=params["conf"],
                    run_type=DagRunType.MANUAL,
                    triggered_by=DagRunTriggeredByType.REST_API,
                    triggering_user_name=username,
                    state=DagRunState.QUEUED,
                    partition_key=params["partition_key"],
                    partition_date=params["partition_date"],
                    session=session,
                )
            except (ParamValidationError, ValueError) as exc:
                raise DagNotAvailable(f"DAG {dag_id!r} refused the run: {exc}") from exc
            return TriggeredRun(dag_run_id=dag_run.run_id, dag_is_paused=bool(dm.is_paused))
