"""
### campaign_executor

Runs the brokers' marketing campaigns on their leads (use case UC-06).

**Hourly sweep** (no params): snapshot the leads → validate them (Great Expectations; bad rows
go to `lead_rejects` with their reasons) → evaluate the LEAD_SCORE / STAGE_CHANGE / INACTIVITY
triggers with durable-rules → enrol new matches once → plan the due steps → execute them in
chunks (mapped tasks) → summarise the run in `pipeline_runs`.

**Apply to lead** (`campaign_id` and `lead_id` both set): the same pipeline on that lead and that
campaign only. The campaign must exist and be ACTIVE; a trigger that is not met, or a lead already
enrolled, is logged as SKIPPED.

"Now" is the logical date when the run has one, else `dag_run.run_after`; every timestamp
written uses it. Results: `campaign_logs`, `campaign_stats` (always equal to the logs).
The tasks are the stages of `include/campaigns/engine/stages.py`, in its order.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import Param, dag, task

from include.campaigns.engine.stages import BY_ID, PREPARE

DEFAULT_ARGS = {
    "owner": "campaigns",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
}


@dag(
    dag_id="campaign_executor",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["campaigns", "crm", "rule-engine"],
    doc_md=__doc__,
    params={
        "campaign_id": Param(None, type=["null", "integer"], minimum=1,
                             description="Apply this campaign (with lead_id); null for the hourly sweep"),
        "lead_id": Param(None, type=["null", "integer"], minimum=1,
                         description="Apply to this lead (with campaign_id); null for the hourly sweep"),
    },
)
def campaign_executor():
    @task(doc_md=BY_ID["start_run"].doc)
    def start_run(**context) -> dict:
        from include.campaigns.engine.airflow_tasks import start_run

        return start_run(context)

    @task
    def prepare(stage_id: str, run: dict) -> dict:
        from include.campaigns.engine.airflow_tasks import prepare

        return prepare(stage_id, run)

    @task(doc_md=BY_ID["plan_due_steps"].doc)
    def plan_due_steps(run: dict) -> list[int]:
        from include.campaigns.engine.airflow_tasks import plan_due_steps

        return plan_due_steps(run)

    @task(pool="campaign_actions", max_active_tis_per_dagrun=8, doc_md=BY_ID["execute_chunk"].doc)
    def execute_chunk(run: dict, chunk_no: int) -> dict:
        from include.campaigns.engine.airflow_tasks import execute_chunk

        return execute_chunk(run, chunk_no)

    @task(trigger_rule="none_failed", doc_md=BY_ID["finish_run"].doc)
    def finish_run(run: dict) -> dict:
        from include.campaigns.engine.airflow_tasks import finish_run

        return finish_run(run)

    run = start_run()
    upstream = run
    for stage in PREPARE:
        step = prepare.override(task_id=stage.task_id, doc_md=stage.doc)(stage.task_id, run)
        upstream >> step
        upstream = step
    chunks = plan_due_steps(run)
    upstream >> chunks
    executed = execute_chunk.partial(run=run).expand(chunk_no=chunks)
    executed >> finish_run(run)


campaign_executor()
