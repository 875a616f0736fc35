"""A worker SIGKILLed in the middle of a chunk, then the task retried by another worker process.

Three workers run the three chunks of one run, each held at a different point and killed there:

* chunk 0 -- inside the provider call, after 2 of its 5 WhatsApp messages went out;
* chunk 1 -- at the COMMIT of the chunk: every message and call sent, logs + stats written, not committed;
* chunk 2 -- after the COMMIT, before the task could report success (Airflow would retry it too).

Then one retry process runs the three chunks again (what Airflow's retries do). The provider is
``FileProvider``: it keeps its deliveries in a journal outside every process, deduplicating on the
idempotency key, so a message the dead worker sent is answered from the provider's memory, not sent again.
"""

from __future__ import annotations

import json
import os
import signal

import pytest

from include.campaigns.infra.database import ENV_CONN
from include.campaigns.engine.execute import execute_chunk
from include.campaigns.engine.enrol import enrol_leads
from include.campaigns.engine.evaluate import evaluate_triggers
from include.campaigns.engine.finish import finish_run
from include.campaigns.engine.plan import plan_due_steps
from include.campaigns.engine.settings import EngineSettings
from include.campaigns.engine.snapshot import snapshot_leads
from include.campaigns.quality.validate import validate_snapshot
from include.campaigns.engine.run import RunContext, start_run
from tests.factories import T0, add_agent, add_broker, add_campaign, add_lead, add_template
from tests.reliability.conftest import start_worker, wait_backend_gone
from tests.reliability.world import FULL_CHAIN, log_counter, rows
from tests.support.faults import FAULTS, channel_connections, file_deliveries, file_requests, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

LEADS = 15


def prepare(engine, run: RunContext, chunks: int) -> list[int]:
    """The tasks before execute_chunk, as the DAG runs them."""
    start_run(engine, run)
    snapshot_leads(engine, run)
    validate_snapshot(engine, run)
    evaluate_triggers(engine, run)
    enrol_leads(engine, run)
    return plan_due_steps(engine, run, EngineSettings(max_chunks=chunks, min_chunk_size=1))


def with_app_name(uri: str, name: str) -> str:
    return f"{uri}{'&' if '?' in uri else '?'}application_name={name}"


def test_workers_killed_mid_chunk_then_retried_send_nothing_twice(engine, invariants, subprocess_env, admin_uri,
                                                                   tmp_path, request_cleanup):
    add_broker(engine, 1)
    add_template(engine, 10, 1, "whatsapp")
    for i in range(1, LEADS + 1):  # one agent per lead: bookings of different chunks never wait on each other
        add_agent(engine, 100 + i, 1)
        add_lead(engine, i, score=90, phone=f"+5255{i:08d}", assigned_agent_id=100 + i)
    cid = add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70}, steps=FULL_CHAIN)
    run = RunContext("scheduled__2026-11-25T10:00:00+00:00", T0)
    assert prepare(engine, run, chunks=3) == [0, 1, 2]

    provider = tmp_path / "provider"
    env = {**subprocess_env, **channel_connections("tests.support.faults:FileProvider", dir=str(provider)),
           ENV_CONN: with_app_name(admin_uri, "rel-worker")}
    held = {0: (None, {"REL_BLOCK_AFTER": "2"}), 1: ("commit", {}), 2: ("after_commit", {})}

    def launch(chunk: int):
        block_at, extra = held[chunk]
        marker = tmp_path / f"held-{chunk}"
        spec = {"run": run.to_dict(), "chunks": [chunk], "block_at": block_at, "marker": str(marker)}
        proc = start_worker(["-m", "tests.reliability.worker", json.dumps(spec)],
                            {**env, **extra, "REL_BLOCK_MARKER": str(marker)}, tmp_path / f"worker-{chunk}.log")
        workers.append(proc)
        return chunk, proc, marker

    def reached(chunk: int, proc, marker) -> None:
        wait_for(lambda: marker.exists() or proc.poll() is not None, 60, f"worker of chunk {chunk} to reach its point")
        assert marker.exists(), (tmp_path / f"worker-{chunk}.log").read_text()[-3000:]

    workers: list = []
    request_cleanup(workers)
    # chunks of one campaign serialise on its campaign_stats row while they write: the worker held at
    # COMMIT (chunk 1) starts once chunk 2 has committed; chunk 0 is held before writing anything
    first = [launch(0), launch(2)]
    for w in first:
        reached(*w)
    reached(*launch(1))
    for proc in workers:
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
        FAULTS.add("workers_sigkilled")
    wait_backend_gone(engine, "rel-worker")  # the server rolled the dead workers' transactions back

    delivered = file_deliveries(provider)
    # what the dead workers left: chunk 2 committed; chunks 0 and 1 only on the provider's side
    assert log_counter(engine, cid) == {(s, "SENT", None): 5 for s in (1, 2, 3, 4)}
    assert len(delivered) == 2 + 10 + 10

    retry_env = {**env, ENV_CONN: with_app_name(admin_uri, "rel-retry")}
    retry = start_worker(["-m", "tests.reliability.worker", json.dumps({"run": run.to_dict(), "chunks": [0, 1, 2]})],
                         retry_env, tmp_path / "retry.log")
    assert retry.wait(90) == 0, (tmp_path / "retry.log").read_text()[-3000:]
    results = [json.loads(line) for line in (tmp_path / "retry.log").read_text().splitlines() if line.startswith("{")]
    # chunk 2 had committed: its retry claims the (still ACTIVE, step 5 is a day away) enrolments, runs nothing
    assert [(r["chunk_no"], r["claimed"], r["steps_logged"]) for r in results] == [(0, 5, 20), (1, 5, 20), (2, 5, 0)]
    finish_run(engine, run)

    delivered = file_deliveries(provider)
    assert len(delivered) == LEADS * 2  # one message and one call per lead, ever
    resent = len(file_requests(provider)) - len(delivered)
    assert resent == 2 + 10  # what chunks 0 and 1 had sent was asked again and answered from the provider's memory
    assert log_counter(engine, cid) == {(s, "SENT", None): LEADS for s in (1, 2, 3, 4)}
    assert rows(engine, "SELECT count(*), count(DISTINCT agent_id) FROM appointments") == [(LEADS, LEADS)]
    invariants(at=T0, deliveries=[(d["campaign_id"], d["lead_id"], d["step_number"]) for d in delivered])


def test_a_frozen_worker_keeps_its_chunk_and_the_retry_cannot_double_it(engine, invariants, subprocess_env, admin_uri,
                                                                       tmp_path, request_cleanup, monkeypatch):
    """A worker frozen mid-chunk (SIGSTOP: a VM paused, a network partition) still holds its row locks; Airflow
    gives up on it and retries the task elsewhere. The retry skips the locked enrolments -- it cannot send
    them twice -- and when the frozen worker thaws, it finishes its chunk: every step exactly once."""
    add_broker(engine, 1)
    add_template(engine, 10, 1, "whatsapp")
    for i in range(1, 6):
        add_lead(engine, i, score=90, phone=f"+5255{i:08d}")
    cid = add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70}, steps=FULL_CHAIN[:2])
    run = RunContext("scheduled__frozen", T0)
    assert prepare(engine, run, chunks=1) == [0]
    provider = tmp_path / "provider"
    env = {**subprocess_env, **channel_connections("tests.support.faults:FileProvider", dir=str(provider),
                                                   timeout_seconds=90),
           ENV_CONN: with_app_name(admin_uri, "rel-frozen"), "REL_BLOCK_AFTER": "2",
           "REL_BLOCK_MARKER": str(tmp_path / "held"), "REL_BLOCK_RELEASE": str(tmp_path / "release")}
    worker = start_worker(["-m", "tests.reliability.worker", json.dumps({"run": run.to_dict(), "chunks": [0]})],
                          env, tmp_path / "frozen.log")
    request_cleanup([worker])
    wait_for(lambda: (tmp_path / "held").exists() or worker.poll() is not None, 60, "the worker to send 2 messages")
    assert (tmp_path / "held").exists(), (tmp_path / "frozen.log").read_text()[-3000:]
    os.killpg(worker.pid, signal.SIGSTOP)
    FAULTS.add("workers_frozen")
    try:
        for key, value in channel_connections("tests.support.faults:FileProvider", dir=str(provider)).items():
            monkeypatch.setenv(key, value)
        retried = execute_chunk(engine, run, 0)  # Airflow's retry, in another process (here: this one)
    finally:
        os.killpg(worker.pid, signal.SIGCONT)
    assert retried["claimed"] == 0 and retried["steps_logged"] == 0  # locked by the frozen attempt: skipped
    assert len(file_deliveries(provider)) == 2
    (tmp_path / "release").touch()
    assert worker.wait(60) == 0, (tmp_path / "frozen.log").read_text()[-3000:]
    finish_run(engine, run)
    assert log_counter(engine, cid) == {(1, "SENT", None): 5, (2, "SENT", None): 5}
    delivered = file_deliveries(provider)
    invariants(at=T0, deliveries=[(d["campaign_id"], d["lead_id"], d["step_number"]) for d in delivered])
