"""``campaign_executor`` on a real CeleryExecutor cluster (CONTRACT §9): Redis broker, PostgreSQL metadata
database and result backend, two Celery workers (``cluster.py``).

1. An hourly sweep of demo data, with enough due steps for several chunks: the run succeeds, both workers
   executed ``execute_chunk`` instances, one log per step, stats equal logs, nothing delivered twice.
2. A worker SIGKILLed -- with every process it started -- in the middle of a chunk, after the chunk's third
   real delivery and before its commit: the scheduler fails the dead try after
   ``[scheduler] task_instance_heartbeat_timeout`` (20 s here, 300 s by default), Airflow retries it on the other
   worker, and the run completes with no duplicate log or send and no lost step.

The provider is a ``FileProvider`` (deduplicates on the idempotency key, journals every real delivery) shared by
the workers through a directory named in the ``channel_*`` connections, which also arm the hold point. The
scheduler creates no runs of its own here (``use_job_schedule = False``): the cases trigger theirs, at a chosen
logical date, so no hourly run can start in between.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psutil
import pytest
from sqlalchemy import Engine, text

from include.campaigns.devtools.demo import generate_demo
from include.campaigns.domain.vocabulary import DELIVERY_CHANNELS
from tests.cluster.cluster import DAG_ID, Cluster
from tests.cluster.provider import held
from tests.reliability.invariants import check
from tests.support.faults import file_deliveries, file_requests

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

LEADS = 2000  # the demo's size
POOL_SLOTS = 2  # = 2 workers x concurrency 1: each worker holds at most one chunk, so both run chunks
VARIABLES = {"campaigns_max_chunks": "6", "campaigns_min_chunk_size": "60",
             "campaigns_parallel_chunks": str(POOL_SLOTS)}
HOLD_AFTER = 3
RUN_TIMEOUT = 300


def this_hour() -> datetime:
    return datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)


@pytest.fixture(scope="module")
def configured(cluster: Cluster) -> Cluster:
    cluster.set_pool("campaign_actions", POOL_SLOTS)
    for key, value in VARIABLES.items():
        cluster.set_variable(key, value)
    cluster.api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})
    return cluster


def use_provider(cluster: Cluster, root, hold_after: int = 0, meet: bool = False) -> None:
    for channel in DELIVERY_CHANNELS:
        cluster.set_connection(f"channel_{channel}", {"adapter": "tests.cluster.provider:HoldingProvider",
                                                      "dir": str(root), "hold_after": hold_after, "meet": meet})


def trigger(cluster: Cluster, run_id: str, at: datetime) -> str:
    run = cluster.api("POST", f"/dags/{DAG_ID}/dagRuns", json={"dag_run_id": run_id, "logical_date": at.isoformat()})
    return run["dag_run_id"]


def explain(cluster: Cluster, run_id: str) -> str:
    tis = cluster.task_instances(run_id)
    lines = [f"{t['task_id']}[{t['map_index']}] {t['state']} try {t['try_number']}" for t in tis]
    logs = "\n".join(f"--- {p.name}\n{p.tail(2000)}" for p in cluster.processes.values())
    return "\n".join(lines) + "\n" + logs


def timing(run: dict, cluster: Cluster, run_id: str) -> str:
    """The run's wall time and its tasks' own durations, for docs/production.md (nothing asserts a duration)."""
    seconds = (datetime.fromisoformat(run["end_date"]) - datetime.fromisoformat(run["start_date"])).total_seconds()
    tasks = {f"{t['task_id']}[{t['map_index']}]": round(t["duration"] or 0, 1) for t in cluster.task_instances(run_id)}
    return f"run {seconds:.1f} s, task durations {tasks}"


def rejected_leads(engine: Engine) -> set[int]:
    with engine.connect() as c:
        return set(c.execute(text("SELECT DISTINCT lead_id FROM lead_rejects")).scalars())


def assert_exactly_once(engine: Engine, at: datetime, provider) -> None:
    deliveries = [(d["campaign_id"], d["lead_id"], d["step_number"]) for d in file_deliveries(provider)]
    report = check(engine, at=at, deliveries=deliveries, deferred_leads=rejected_leads(engine))
    assert report.ok, str(report)
    with engine.connect() as c:
        logs, stats = c.execute(text(
            "SELECT (SELECT count(*) FROM campaign_logs), "
            "(SELECT coalesce(sum(sent + failed + skipped), 0) FROM campaign_stats)")).one()
    assert report.steps_checked > 0 and logs == stats


def logged(engine: Engine, deliveries: list[dict]) -> set[tuple[int, int, int]]:
    """Which of these deliveries' steps have a SENT log row."""
    with engine.connect() as c:
        rows = c.execute(text("SELECT campaign_id, lead_id, step_number FROM campaign_logs WHERE status = 'SENT'"))
        done = {tuple(r) for r in rows}
    return {k for k in ((d["campaign_id"], d["lead_id"], d["step_number"]) for d in deliveries) if k in done}


def chunk_tries(cluster: Cluster, run_id: str) -> list[dict]:
    return [c for c in cluster.celery_tasks() if c["run_id"] == run_id and c["task_id"] == "execute_chunk"]


def test_an_hourly_sweep_runs_its_chunks_on_both_celery_workers(configured: Cluster, cluster_db: Engine):
    cluster = configured
    provider = cluster.root / "provider-sweep"
    use_provider(cluster, provider, meet=True)  # chunks take < 1 s: without it one worker can run them all
    at = this_hour()
    generate_demo(cluster_db, leads=LEADS, reference_time=at)

    run_id = trigger(cluster, f"sweep_{cluster.token}", at)
    run = cluster.wait_for_run(run_id, RUN_TIMEOUT)
    assert run["state"] == "success", explain(cluster, run_id)

    chunks = [t for t in cluster.task_instances(run_id) if t["task_id"] == "execute_chunk"]
    assert len(chunks) >= 3 and {t["state"] for t in chunks} == {"success"}, explain(cluster, run_id)
    tries = chunk_tries(cluster, run_id)
    assert sorted(t["map_index"] for t in tries) == sorted(t["map_index"] for t in chunks)
    assert {t["worker"] for t in tries} == set(cluster.workers), tries
    print(f"sweep: {len(chunks)} chunks, tries per worker "
          f"{ {w: sum(t['worker'] == w for t in tries) for w in cluster.workers} }; {timing(run, cluster, run_id)}")
    assert_exactly_once(cluster_db, at, provider)
    with cluster_db.connect() as c:
        sent = c.execute(text("SELECT count(*) FROM campaign_logs WHERE status = 'SENT'")).scalar_one()
    assert sent >= len(chunks) * 10


def test_a_worker_killed_in_the_middle_of_a_chunk_loses_and_duplicates_nothing(configured: Cluster,
                                                                             cluster_db: Engine):
    cluster = configured
    provider = cluster.root / "provider-kill"
    use_provider(cluster, provider, hold_after=HOLD_AFTER)
    at = this_hour() - timedelta(hours=1)
    generate_demo(cluster_db, leads=LEADS, reference_time=at)

    run_id = trigger(cluster, f"kill_{cluster.token}", at)
    hold = cluster.wait_until(lambda: held(provider), RUN_TIMEOUT, "a chunk to reach its hold point")
    victim = hold["worker"]
    assert victim in cluster.workers, hold
    sent_by_victim = [d for d in file_deliveries(provider) if d["pid"] == hold["pid"]]
    assert len(sent_by_victim) == HOLD_AFTER
    assert not logged(cluster_db, sent_by_victim)  # sent, not committed: the middle of the chunk

    cluster.kill(victim)
    assert not psutil.pid_exists(hold["pid"])
    (provider / "release").touch()
    run = cluster.wait_for_run(run_id, RUN_TIMEOUT, allow_dead={victim})
    assert run["state"] == "success", explain(cluster, run_id)

    survivor = next(w for w in cluster.workers if w != victim)
    tries = chunk_tries(cluster, run_id)
    killed = [t for t in tries if t["worker"] == victim and t["status"] != "SUCCESS"]
    assert killed, tries  # the held try never reported back
    by_index = {t["map_index"]: t for t in cluster.task_instances(run_id) if t["task_id"] == "execute_chunk"}
    for dead in killed:
        ti = by_index[dead["map_index"]]
        assert ti["state"] == "success" and ti["try_number"] > dead["try_number"], (ti, dead)
        assert any(t["map_index"] == dead["map_index"] and t["worker"] == survivor and t["status"] == "SUCCESS"
                   for t in tries), tries

    print(f"kill: {victim} killed holding chunk(s) {[t['map_index'] for t in killed]}; {timing(run, cluster, run_id)}")
    assert_exactly_once(cluster_db, at, provider)
    deliveries, requests = file_deliveries(provider), file_requests(provider)
    # what the dead try had sent was asked again by its retry and answered from the provider's memory
    resent = {r["key"] for r in requests if r["pid"] != hold["pid"]} & {d["key"] for d in sent_by_victim}
    assert resent == {d["key"] for d in sent_by_victim}
    assert len(deliveries) == len({d["key"] for d in deliveries})
    assert logged(cluster_db, sent_by_victim) == {(d["campaign_id"], d["lead_id"], d["step_number"])
                                                  for d in sent_by_victim}
