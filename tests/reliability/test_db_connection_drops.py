"""The database connection dropped in the middle of a write, at exact points of every task of a real DAG run.

``pg_terminate_backend`` kills the server side of the connection that is about to run (or has just
run) a chosen statement, or is about to COMMIT. The task fails like it would in production, Airflow
retries it (``fast_retries``: at once instead of after 30 s), and the retry must converge on exactly
the state a run without faults reaches.
"""

from __future__ import annotations

import pytest

from tests.factories import T0, hours
from tests.reliability.conftest import task_states, task_tries
from tests.reliability.world import broker_world, log_counter, rows, scalar
from tests.support.faults import CLAIM_STATEMENT, DropConnection, DropPoint

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_a_dropped_connection_in_every_task_is_retried_to_the_same_result(engine, fast_retries, run_dag, admin_uri,
                                                                          invariants):
    cid, leads = broker_world(engine, leads=6)
    from tests.factories import add_lead

    add_lead(engine, 99, score=95, email="not-an-email")  # a reject, so validation writes
    points = [
        DropPoint(r"INSERT INTO run_leads", when="after", label="snapshot_leads: after staging the leads"),
        DropPoint(r"INSERT INTO lead_rejects", label="validate_snapshot: before keeping the rejects"),
        DropPoint(r"DELETE FROM run_trigger_matches", label="evaluate_triggers: before storing matches"),
        DropPoint(r"INSERT INTO campaign_enrolments", when="after", label="enrol_leads: after enrolling"),
        DropPoint(r"DELETE FROM lead_changes", when="after", label="enrol_leads: after consuming the change feed"),
        DropPoint(r"INSERT INTO run_plan", when="after", label="plan_due_steps: after planning"),
        DropPoint(CLAIM_STATEMENT, label="execute_chunk: claiming the chunk"),
        DropPoint(r"COPY outbound_messages", when="after", label="sandbox provider: recording the sends"),
        DropPoint(r"COPY campaign_logs", when="after", label="execute_chunk: after writing the logs, before the stats"),
        DropPoint(r"UPDATE campaign_enrolments e", label="execute_chunk: before moving the cursors"),
        DropPoint(r"UPDATE leads l\s+SET stage", label="execute_chunk: before the stage moves"),
        DropPoint("COMMIT", armed_by=r"COPY campaign_logs", label="execute_chunk: at COMMIT"),
        DropPoint(r"UPDATE pipeline_runs SET finished_at", label="finish_run: before closing the run"),
    ]
    with DropConnection(engine, admin_uri, points) as drops:
        run = run_dag(T0)
    assert drops.fired == len(points), [p.label for p in points if not p.fired]
    assert run.state == "success", task_states(run)
    tries = task_tries(run)
    assert tries["start_run"] == 1
    for task in ("snapshot_leads", "validate_snapshot", "evaluate_triggers", "plan_due_steps", "finish_run"):
        assert tries[task] == 2, (task, tries)
    assert tries["enrol_leads"] == 3, tries  # after enrolling, after consuming the change feed
    assert tries["execute_chunk[0]"] == 6, tries  # claim, logs, cursors, stage, commit: 5 failures, then success

    assert log_counter(engine, cid) == {(1, "SENT", None): 6, (2, "SENT", None): 6, (3, "SENT", None): 6,
                                        (4, "SENT", None): 6}
    assert scalar(engine, "SELECT count(*) FROM outbound_messages") == 12  # 6 messages + 6 calls, once each
    assert scalar(engine, "SELECT count(*) FROM appointments") == 6
    assert rows(engine, "SELECT lead_id, reasons FROM lead_rejects") == [(99, ["malformed_email"])]
    counts = scalar(engine, "SELECT counts FROM pipeline_runs")
    assert counts["leads_rejected"] == 1 and counts["logs_sent"] == 24 and counts["enrolled"] == 6
    invariants(at=T0, deferred_leads=[99])


def test_a_connection_dropped_at_commit_and_in_the_provider_leaves_no_trace(engine, fast_retries, run_dag, admin_uri,
                                                                              invariants):
    cid, leads = broker_world(engine, leads=4)
    assert run_dag(T0).state == "success"
    points = [
        # the provider's own transaction dies twice: its retry policy absorbs it, the task does not fail
        DropPoint(r"COPY outbound_messages", when="after", times=2, label="sandbox: twice after recording"),
        # the chunk's COMMIT is cut twice: nothing of the chunk stays, the retry does it all again
        DropPoint("COMMIT", armed_by=r"COPY campaign_logs", times=2, label="execute_chunk: at COMMIT, twice"),
    ]
    with DropConnection(engine, admin_uri, points) as drops:
        run = run_dag(hours(24))
    assert drops.fired == 4
    assert run.state == "success", task_states(run)
    assert task_tries(run)["execute_chunk[0]"] == 3
    assert log_counter(engine, cid)[(5, "SENT", None)] == 4
    assert scalar(engine, "SELECT count(*) FROM outbound_messages WHERE step_number = 5") == 4
    assert scalar(engine, "SELECT count(*) FROM campaign_enrolments WHERE status = 'COMPLETED'") == 4
    invariants(at=hours(24))


def test_a_dropped_connection_in_start_run_does_not_lose_an_apply(engine, fast_retries, run_dag, admin_uri,
                                                                   invariants):
    from tests.factories import add_broker, add_campaign, add_lead, add_template

    add_broker(engine, 1)
    add_template(engine, 10, 1, "whatsapp")
    add_lead(engine, 1, score=90)
    cid = add_campaign(engine, trigger_type="MANUAL", steps=[{"action": "send_message", "message_template_id": 10}])
    with DropConnection(engine, admin_uri, [DropPoint(r"INSERT INTO pipeline_runs", label="start_run")]) as drops:
        run = run_dag(T0, {"campaign_id": cid, "lead_id": 1}, manual=True)
    assert drops.fired == 1
    invariants(at=T0)
    assert run.state == "success", task_states(run)
    assert log_counter(engine, cid) == {(1, "SENT", None): 1}
