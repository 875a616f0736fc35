"""Two runs of the DAG at the same time: a scheduled sweep and a manual apply-to-lead on the same lead.

``max_active_runs=1`` makes the scheduler queue them, but nothing stops an ``airflow dags test``, a
second scheduler or a raised limit from overlapping them, so the engine must not rely on it. Each
ordering is forced with a gate, not a sleep: one run is held inside its provider call, right after
sending lead 1's first message (its chunk holds lead 1's enrolment lock), while the other run goes
through from start to finish; then the held run is released.
"""

from __future__ import annotations

import json

import pytest

from include.campaigns.infra.database import ENV_CONN
from include.campaigns.engine.enrol import enrol_leads
from include.campaigns.engine.evaluate import evaluate_triggers
from include.campaigns.engine.finish import finish_run
from include.campaigns.engine.plan import plan_due_steps
from include.campaigns.engine.snapshot import snapshot_leads
from include.campaigns.quality.validate import validate_snapshot
from include.campaigns.engine.run import RunContext, start_run
from tests.factories import T0, add_broker, add_campaign, add_lead, add_template
from tests.reliability.conftest import start_worker
from tests.reliability.world import log_counter, rows
from tests.support.faults import FAULTS, channel_connections, file_deliveries, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

STEPS = [{"action": "send_message", "message_template_id": 10}, {"action": "make_call"},
         {"action": "update_stage", "config": {"stage": "contacted"}}]


@pytest.fixture
def world(engine):
    add_broker(engine, 1)
    add_template(engine, 10, 1, "whatsapp")
    for lead in (1, 2, 3):
        add_lead(engine, lead, score=90, phone=f"+52551234567{lead}")
    return add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70}, steps=STEPS)


def provider_env(root, monkeypatch) -> dict[str, str]:
    conns = channel_connections("tests.support.faults:FileProvider", dir=str(root), timeout_seconds=90)
    for key, value in conns.items():
        monkeypatch.setenv(key, value)  # this process's runs use the same provider
    return conns


def deliveries(root) -> list[tuple[int, int, int]]:
    return [(d["campaign_id"], d["lead_id"], d["step_number"]) for d in file_deliveries(root)]


def hold_env(tmp_path) -> dict[str, str]:
    return {"REL_BLOCK_AFTER": "1", "REL_BLOCK_MARKER": str(tmp_path / "held"),
            "REL_BLOCK_RELEASE": str(tmp_path / "release")}


def test_a_manual_apply_while_the_scheduled_sweep_is_sending(engine, world, run_dag, subprocess_env, tmp_path,
                                                              monkeypatch, request_cleanup, invariants):
    cid = world
    root = tmp_path / "provider"
    env = {**subprocess_env, **provider_env(root, monkeypatch), **hold_env(tmp_path)}
    sweep = start_worker(["-m", "airflow", "dags", "test", "campaign_executor", T0.isoformat()], env,
                         tmp_path / "sweep.log")
    request_cleanup([sweep])
    wait_for(lambda: (tmp_path / "held").exists() or sweep.poll() is not None, 90, "the sweep to send its first message")
    assert (tmp_path / "held").exists(), (tmp_path / "sweep.log").read_text()[-4000:]

    apply = run_dag(T0, {"campaign_id": cid, "lead_id": 1}, manual=True)  # goes through while the sweep holds lead 1
    FAULTS.add("overlapping_dag_runs")
    assert apply.state == "success"
    assert log_counter(engine, cid) == {(None, "SKIPPED", "already_enrolled"): 1}  # enrolled by the sweep; its steps
    (tmp_path / "release").touch()                                                 # are the sweep's (locked)
    assert sweep.wait(90) == 0, (tmp_path / "sweep.log").read_text()[-4000:]

    assert log_counter(engine, cid) == {(None, "SKIPPED", "already_enrolled"): 1, (1, "SENT", None): 3,
                                        (2, "SENT", None): 3, (3, "SENT", None): 3}
    assert len(deliveries(root)) == 6
    invariants(at=T0, deliveries=deliveries(root))


def test_the_scheduled_sweep_while_a_manual_apply_is_sending(engine, world, run_dag, subprocess_env, tmp_path,
                                                              monkeypatch, request_cleanup, invariants, admin_uri):
    cid = world
    root = tmp_path / "provider"
    env = {**subprocess_env, **provider_env(root, monkeypatch), **hold_env(tmp_path)}
    apply = RunContext("manual__apply", T0, campaign_id=cid, lead_id=1)
    start_run(engine, apply)
    snapshot_leads(engine, apply)
    validate_snapshot(engine, apply)
    evaluate_triggers(engine, apply)
    assert enrol_leads(engine, apply)["apply_outcome"] == "enrolled"
    assert plan_due_steps(engine, apply) == [0]
    worker = start_worker(["-m", "tests.reliability.worker", json.dumps({"run": apply.to_dict(), "chunks": [0]})],
                          {**env, ENV_CONN: admin_uri}, tmp_path / "apply.log")
    request_cleanup([worker])
    wait_for(lambda: (tmp_path / "held").exists() or worker.poll() is not None, 60, "the apply to send its first message")
    assert (tmp_path / "held").exists(), (tmp_path / "apply.log").read_text()[-4000:]

    sweep = run_dag(T0)  # enrols leads 2 and 3, finds lead 1 enrolled, and skips its locked enrolment
    FAULTS.add("overlapping_dag_runs")
    assert sweep.state == "success"
    assert rows(engine, "SELECT DISTINCT lead_id FROM campaign_logs ORDER BY 1") == [(2,), (3,)]
    (tmp_path / "release").touch()
    assert worker.wait(60) == 0, (tmp_path / "apply.log").read_text()[-4000:]
    finish_run(engine, apply)

    assert log_counter(engine, cid) == {(1, "SENT", None): 3, (2, "SENT", None): 3, (3, "SENT", None): 3}
    assert rows(engine, "SELECT DISTINCT run_id FROM campaign_logs WHERE lead_id = 1") == [("manual__apply",)]
    invariants(at=T0, deliveries=deliveries(root))
