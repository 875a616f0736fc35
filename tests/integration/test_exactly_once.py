"""Exactly once at the executor: overlapping runs, a crash between sending and recording, a provider down."""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import text

from include.campaigns.engine.actions import REGISTRY
from include.campaigns.engine.writer import ChunkWriter
from include.campaigns.engine.execute import engine_error_message
from include.campaigns.engine.execute import execute_chunk
from include.campaigns.engine.enrol import enrol_leads
from include.campaigns.engine.evaluate import evaluate_triggers
from include.campaigns.engine.plan import plan_due_steps
from include.campaigns.engine.settings import EngineSettings
from include.campaigns.engine.snapshot import snapshot_leads
from include.campaigns.engine.run import RunContext, start_run
from tests.factories import T0, add_broker, add_campaign, add_lead, add_template, assert_stats_match_logs, logs
from tests.support.adapters import DownProvider, RecordingProvider

pytestmark = pytest.mark.integration


def prepare(engine, run: RunContext, max_chunks: int = 4, min_chunk_size: int = 1) -> list[int]:
    start_run(engine, run)
    snapshot_leads(engine, run)
    evaluate_triggers(engine, run)
    enrol_leads(engine, run)
    return plan_due_steps(engine, run, EngineSettings(max_chunks=max_chunks, min_chunk_size=min_chunk_size))


@pytest.fixture
def campaign(engine):
    add_broker(engine, 1)
    add_template(engine, 10, 1, "whatsapp")
    for lead in range(1, 41):
        add_lead(engine, lead, score=90)
    return add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70}, steps=[
        {"action": "send_message", "message_template_id": 10},
        {"action": "make_call"},
        {"action": "update_stage", "config": {"stage": "contacted"}},
    ])


def recording_adapters():
    return {ch: RecordingProvider(ch) for ch in ("whatsapp", "sms", "email", "voice")}


def test_overlapping_runs_execute_each_step_once(engine, campaign):
    RecordingProvider.sent, RecordingProvider.delay = [], 0.3
    sweep = RunContext("scheduled__A", T0)
    chunks = prepare(engine, sweep)
    assert len(chunks) == 4
    apply = RunContext("manual__B", T0, campaign_id=campaign, lead_id=7)
    assert prepare(engine, apply) == [0]  # already enrolled (logged), and its first step is due for it too
    # ...and a second sweep planned at the same moment, before the first executed anything
    again = RunContext("scheduled__C", T0)
    assert prepare(engine, again) == [0, 1, 2, 3]

    results, errors = [], []

    def work(run, chunk):
        try:
            results.append(execute_chunk(engine, run, chunk, adapters=recording_adapters()))
        except Exception as exc:  # pragma: no cover - shown in the assertion
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(run, c)) for c in chunks for run in (sweep, again)]
    threads.insert(3, threading.Thread(target=work, args=(apply, 0)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sum(r["claimed"] for r in results) >= 40
    keys = Counter(RecordingProvider.sent)
    assert len(keys) == 80 and max(keys.values()) == 1, "a message or call went out twice"
    assert Counter((lead, step) for lead, step, *_ in logs(engine, campaign)).most_common(1)[0][1] == 1
    assert len(logs(engine, campaign)) == 40 * 3 + 1  # + the apply's already_enrolled entry
    assert_stats_match_logs(engine)


class CrashingWriter(ChunkWriter):
    """The connection drops after everything was sent, before anything is recorded."""

    def write(self, conn, run, data, out):
        raise ConnectionResetError("server closed the connection unexpectedly")


def test_a_crash_after_sending_is_retried_without_sending_twice(engine, campaign):
    run = RunContext("scheduled__crash", T0)
    [chunk] = prepare(engine, run, max_chunks=1)
    with pytest.raises(ConnectionResetError):
        execute_chunk(engine, run, chunk, writer=CrashingWriter())  # sandbox adapters: the provider recorded the sends
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM outbound_messages")).scalar() == 80
        assert c.execute(text("SELECT count(*) FROM campaign_logs")).scalar() == 0
        assert c.execute(text("SELECT count(*) FROM campaign_enrolments WHERE last_step_number > 0")).scalar() == 0

    result = execute_chunk(engine, run, chunk)  # the task's retry
    assert result["sent"] == 120
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM outbound_messages")).scalar() == 80
        assert c.execute(text("SELECT max(n) FROM (SELECT count(*) n FROM outbound_messages "
                              "GROUP BY campaign_id, lead_id, step_number) t")).scalar() == 1
    assert execute_chunk(engine, run, chunk)["claimed"] == 0  # a third attempt finds nothing to do
    assert len(logs(engine, campaign)) == 120
    assert_stats_match_logs(engine)


def test_a_provider_adapter_from_a_connection_that_is_down_fails_the_step_only(engine, campaign, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_CHANNEL_VOICE", json.dumps(
        {"conn_type": "generic", "extra": {"adapter": "tests.support.adapters:DownProvider"}}))
    from include.campaigns.channels import load_adapters

    adapters = load_adapters(engine)
    assert isinstance(adapters["voice"], DownProvider)
    assert type(adapters["whatsapp"]).__name__ == "SandboxAdapter"
    run = RunContext("scheduled__down", T0)
    [chunk] = prepare(engine, run, max_chunks=1)
    execute_chunk(engine, run, chunk)
    by_step = Counter((step, status, reason) for _l, step, _a, status, reason, _t in logs(engine, campaign))
    assert by_step == {
        (1, "SENT", None): 40,
        (2, "FAILED", "provider_error: ConnectionError: voice provider unreachable (503)"): 40,
        (3, "SENT", None): 40,
    }


class BrokenForLead5:
    """update_stage with a bug that only lead 5's data reaches."""

    name, contact = "update_stage", False

    def channel(self, campaign):
        return None

    def run(self, ctx):
        if ctx.enrolment.lead_id == 5:
            raise ValueError("no free slot within 366 days")
        return REGISTRY["update_stage"].run(ctx)


def test_an_engine_bug_sets_its_enrolment_aside_without_a_log_and_the_chunk_goes_on(engine, campaign):
    run = RunContext("scheduled__broken", T0)
    [chunk] = prepare(engine, run, max_chunks=1)
    result = execute_chunk(engine, run, chunk, actions={**REGISTRY, "update_stage": BrokenForLead5()})
    assert result["claimed"] == 40 and result["sent"] == 119 and result["failed"] == 0
    assert result["engine_errors"] == [{"campaign_id": campaign, "lead_id": 5, "step_number": 3,
                                        "error": "ValueError: no free slot within 366 days"}]
    assert "campaign 1 lead 5 step 3: ValueError" in engine_error_message(result)
    assert [(lead, step) for lead, step, *_ in logs(engine, campaign) if lead == 5] == [(5, 1), (5, 2)]  # no step 3
    with engine.connect() as c:
        row = c.execute(text("SELECT status, last_step_number, error, error_step, error_run_id FROM "
                             "campaign_enrolments WHERE lead_id = 5")).one()
        assert tuple(row) == ("ERROR", 2, "ValueError: no free slot within 366 days", 3, run.run_id)
        assert c.execute(text("SELECT count(*) FROM campaign_enrolments WHERE status = 'COMPLETED'")).scalar() == 39
    # a later run does not pick it up again until an admin retries it (tests/api: the retry endpoint)
    later = RunContext("scheduled__later", T0 + timedelta(hours=1))
    assert prepare(engine, later, max_chunks=1) == []
    assert_stats_match_logs(engine)


def test_a_leads_enrolments_share_one_chunk(engine, campaign):
    other = add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": 50},
                         steps=[{"action": "send_message", "message_template_id": 10}])
    run = RunContext("scheduled__grouped", T0)
    assert len(prepare(engine, run, max_chunks=3, min_chunk_size=1)) == 3  # 80 enrolments: 3 does not divide them
    with engine.connect() as c:
        split = c.execute(text("SELECT lead_id FROM run_plan WHERE run_id = :r GROUP BY lead_id "
                               "HAVING count(DISTINCT chunk_no) > 1"), {"r": run.run_id}).all()
        per_lead = c.execute(text("SELECT count(*) FROM run_plan WHERE run_id = :r AND campaign_id = :c"),
                             {"r": run.run_id, "c": other}).scalar()
    assert per_lead == 40 and split == []


def test_a_batch_holding_rows_already_logged_inserts_and_counts_only_the_new_ones(engine, campaign):
    """The log batch goes in as a plain insert; a row logged before makes it fall back to ON CONFLICT DO NOTHING in
    a savepoint: the chunk's transaction goes on, and the stats count only what was inserted."""
    from include.campaigns.engine.logs import LogRow, write_logs

    run = RunContext("scheduled__relog", T0)
    first = [LogRow(campaign, 1, 1, "send_message", "SENT", None, T0, run.run_id, "whatsapp", 1)]
    again = first + [LogRow(campaign, 2, 1, "send_message", "FAILED", "provider_error: x", T0, run.run_id,
                            "whatsapp", 1),
                     LogRow(campaign, 3, None, None, "SKIPPED", "goal_reached", T0, run.run_id, None, 1)]
    with engine.begin() as conn:
        assert write_logs(conn, first) == {"SENT": 1, "FAILED": 0, "SKIPPED": 0}
    with engine.begin() as conn:
        assert write_logs(conn, again) == {"SENT": 0, "FAILED": 1, "SKIPPED": 1}
        assert conn.execute(text("SELECT count(*) FROM campaign_logs")).scalar() == 3  # the transaction goes on
        assert write_logs(conn, again) == {"SENT": 0, "FAILED": 0, "SKIPPED": 0}
    assert Counter(status for *_, status, _r, _t in logs(engine, campaign)) == {"SENT": 1, "FAILED": 1, "SKIPPED": 1}
    assert_stats_match_logs(engine)
