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
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import Param, dag, task

DEFAULT_ARGS = {
    "owner": "campaigns",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
}


def _run(run: dict):
    from include.campaigns.run import RunContext

    return RunContext.from_dict(run)


def _engine():
    from include.campaigns.db import get_engine

    return get_engine()


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
    @task
    def start_run(**context) -> dict:
        """Fix the run time and check the params; a bad request fails here, before any write,
        without retries (AirflowFailException); a lost connection is retried like any task."""
        from airflow.sdk.exceptions import AirflowFailException

        from include.campaigns.run import InvalidRunParams, resolve_run, start_run

        try:
            run = resolve_run(context["run_id"], context["params"], context.get("logical_date"),
                              context["dag_run"].run_after)
            return start_run(_engine(), run)
        except InvalidRunParams as exc:
            raise AirflowFailException(str(exc)) from exc

    @task
    def snapshot_leads(run: dict) -> dict:
        from include.campaigns.pipeline import snapshot_leads

        return snapshot_leads(_engine(), _run(run))

    @task
    def validate_snapshot(run: dict) -> dict:
        from include.campaigns.quality import validate_snapshot

        r = _run(run)
        return validate_snapshot(_engine(), r.run_id, r.run_at)

    @task
    def evaluate_triggers(run: dict) -> dict:
        from include.campaigns.pipeline import evaluate_triggers

        return evaluate_triggers(_engine(), _run(run))

    @task
    def enrol_leads(run: dict) -> dict:
        from include.campaigns.pipeline import enrol_leads

        return enrol_leads(_engine(), _run(run))

    @task
    def plan_due_steps(run: dict) -> list[int]:
        from airflow.sdk import Variable

        from include.campaigns.pipeline import plan_due_steps

        return plan_due_steps(
            _engine(), _run(run),
            max_chunks=int(Variable.get("campaigns_max_chunks", default="16")),
            min_chunk_size=int(Variable.get("campaigns_min_chunk_size", default="2000")),
        )

    @task(pool="campaign_actions", max_active_tis_per_dagrun=8)
    def execute_chunk(run: dict, chunk_no: int) -> dict:
        import json

        from airflow.sdk import Variable

        from include.campaigns.executor import execute_chunk
        from include.campaigns.meetings import WorkingHours

        hours = WorkingHours.from_dict(json.loads(Variable.get("campaigns_meeting_hours", default="{}")))
        return execute_chunk(_engine(), _run(run), chunk_no, hours=hours)

    @task(trigger_rule="none_failed")
    def finish_run(run: dict) -> dict:
        from include.campaigns.pipeline import finish_run

        return finish_run(_engine(), _run(run))

    run = start_run()
    snapshot = snapshot_leads(run)
    validated = validate_snapshot(run)
    evaluated = evaluate_triggers(run)
    enrolled = enrol_leads(run)
    chunks = plan_due_steps(run)
    executed = execute_chunk.partial(run=run).expand(chunk_no=chunks)
    snapshot >> validated >> evaluated >> enrolled >> chunks
    executed >> finish_run(run)


campaign_executor()
