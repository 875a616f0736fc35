"""Incremental sweeps read only what can trigger something new; these are the cases where a lead
that did not change must still be seen."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from include.campaigns.engine.enrol import enrol_leads
from include.campaigns.engine.evaluate import evaluate_triggers
from include.campaigns.engine.finish import finish_run
from include.campaigns.engine.plan import plan_due_steps
from include.campaigns.engine.snapshot import snapshot_leads
from include.campaigns.engine.run import RunContext, start_run
from include.campaigns.infra.database import few_rows_of
from tests.factories import T0, add_broker, add_campaign, add_lead, add_template, hours, set_campaign_status, update_lead

pytestmark = pytest.mark.integration


def sweep(engine, at) -> dict:
    run = RunContext(f"scheduled__{at.isoformat()}", at)
    start_run(engine, run)
    counts = snapshot_leads(engine, run)
    counts.update(evaluate_triggers(engine, run))
    counts.update(enrol_leads(engine, run))
    plan_due_steps(engine, run)
    finish_run(engine, run)
    return counts


def enrolled(engine) -> list[tuple[int, int]]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text("SELECT campaign_id, lead_id FROM campaign_enrolments ORDER BY 1, 2"))]


@pytest.fixture
def crm(engine):
    add_broker(engine, 1)
    add_broker(engine, 2, "Casas del Valle")
    add_template(engine, 10, 1, "whatsapp")
    for lead in range(1, 11):
        add_lead(engine, lead, 1, score=50 + lead * 4, last_activity_at=hours(-24 * 3))  # scores 54..90
    for lead in range(11, 21):
        add_lead(engine, lead, 2, score=95)
    return engine


def score_campaign(engine, threshold=80, status="ACTIVE"):
    return add_campaign(engine, trigger_type="LEAD_SCORE", trigger_config={"threshold": threshold}, status=status,
                        steps=[{"action": "send_message", "message_template_id": 10, "delay_hours": 1}])


def test_a_quiet_hour_reads_nothing(crm):
    score_campaign(crm)
    assert sweep(crm, T0)["leads_staged"] == 20
    assert sweep(crm, hours(1))["leads_staged"] == 0
    update_lead(crm, 3, score=60)
    counts = sweep(crm, hours(2))
    assert counts["leads_staged"] == 1 and counts["trigger_candidates"] == 0


def test_a_campaign_activated_later_sees_unchanged_leads(crm):
    sweep(crm, T0)                                          # no campaign yet: snapshots only
    cid = score_campaign(crm)
    counts = sweep(crm, hours(1))
    assert counts["leads_staged"] == 10                     # all of broker 1, none of broker 2
    assert enrolled(crm) == [(cid, lead) for lead in (8, 9, 10)]


def test_changes_during_a_pause_are_seen_on_resume(crm):
    cid = score_campaign(crm)
    sweep(crm, T0)
    set_campaign_status(crm, cid, "PAUSED")
    update_lead(crm, 1, score=99)
    sweep(crm, hours(1))                                    # lead 1's snapshot moves on while paused
    assert (cid, 1) not in enrolled(crm)
    set_campaign_status(crm, cid, "ACTIVE")
    sweep(crm, hours(2))
    assert (cid, 1) in enrolled(crm)


def test_an_edited_threshold_reevaluates_its_broker(crm):
    cid = score_campaign(crm, threshold=85)
    sweep(crm, T0)
    assert enrolled(crm) == [(cid, 9), (cid, 10)]
    with crm.begin() as c:
        c.execute(text("UPDATE campaigns SET trigger_config = '{\"threshold\": 70}' WHERE id = :i"), {"i": cid})
    sweep(crm, hours(1))
    assert enrolled(crm) == [(cid, lead) for lead in (6, 7, 8, 9, 10)]


def test_an_inactivity_threshold_crossed_without_any_change(crm):
    cid = add_campaign(crm, trigger_type="INACTIVITY", trigger_config={"days": 3.5},
                       steps=[{"action": "send_message", "message_template_id": 10}])
    update_lead(crm, 2, last_activity_at=hours(-24 * 3.5 + 6))    # 3.5 days idle at T0+6h
    sweep(crm, T0)                                                 # the others (3 days idle) cross at T0+12h
    assert enrolled(crm) == []
    counts = sweep(crm, hours(5))
    assert counts["leads_staged"] == 0 and enrolled(crm) == []
    counts = sweep(crm, hours(6))
    assert counts["leads_staged"] == 1 and enrolled(crm) == [(cid, 2)]
    counts = sweep(crm, hours(12))
    assert counts["leads_staged"] == 9
    assert enrolled(crm) == [(cid, lead) for lead in range(1, 11)]


def feed(engine) -> list[int]:
    with engine.connect() as c:
        return [r[0] for r in c.execute(text("SELECT lead_id FROM lead_changes ORDER BY change_id"))]


def test_a_write_that_changes_nothing_read_is_read_from_the_feed_and_not_staged(crm):
    score_campaign(crm)
    sweep(crm, T0)
    assert feed(crm) == []                                  # the sweep consumed what it read
    update_lead(crm, 3, full_name="Otra Persona")           # nothing a trigger or validation reads
    assert feed(crm) == [3]
    counts = sweep(crm, hours(1))
    assert counts["lead_changes_read"] == 1 and counts["leads_staged"] == 0 and feed(crm) == []


def test_a_write_committed_during_a_sweep_is_read_by_the_next_one(crm):
    cid = score_campaign(crm)
    run = RunContext(f"scheduled__{T0.isoformat()}", T0)
    start_run(crm, run)
    snapshot_leads(crm, run)
    update_lead(crm, 3, score=97)                          # commits after the sweep read the feed
    evaluate_triggers(crm, run)
    enrol_leads(crm, run)
    plan_due_steps(crm, run)
    finish_run(crm, run)
    assert (cid, 3) not in enrolled(crm) and feed(crm) == [3]
    counts = sweep(crm, hours(1))
    assert counts["leads_staged"] == 1 and (cid, 3) in enrolled(crm) and feed(crm) == []


def test_writes_that_skip_ordinary_triggers_are_still_recorded(crm):
    """A logical-replication apply worker runs as session_replication_role = replica."""
    cid = score_campaign(crm)
    sweep(crm, T0)
    with crm.begin() as c:
        c.execute(text("SET LOCAL session_replication_role = replica"))
        c.execute(text("UPDATE leads SET score = 99 WHERE id = 1"))
        c.execute(text("INSERT INTO leads (id, broker_id, full_name, stage, score) VALUES (99, 1, 'Nueva', 'new', 91)"))
    assert sorted(feed(crm)) == [1, 99]
    sweep(crm, hours(1))
    assert {(cid, 1), (cid, 99)} <= set(enrolled(crm))


def test_an_apply_leaves_the_feed_to_the_next_sweep(crm):
    cid = score_campaign(crm)
    sweep(crm, T0)
    update_lead(crm, 2, score=98)
    run = RunContext("manual__apply", hours(1), campaign_id=cid, lead_id=2)
    start_run(crm, run)
    assert snapshot_leads(crm, run)["leads_staged"] == 1
    evaluate_triggers(crm, run)
    enrol_leads(crm, run)
    finish_run(crm, run)
    assert (cid, 2) in enrolled(crm) and feed(crm) == [2]
    assert sweep(crm, hours(2))["leads_staged"] == 1 and feed(crm) == []


@pytest.mark.parametrize("breakage", ["DISABLE TRIGGER leads_record_updates", "ENABLE TRIGGER leads_record_inserts"])
def test_a_sweep_refuses_to_run_on_a_broken_feed(crm, breakage):
    from include.campaigns.engine.snapshot import ChangeFeedBroken

    with crm.begin() as c:
        c.execute(text(f"ALTER TABLE leads {breakage}"))
    try:
        run = RunContext(f"scheduled__{T0.isoformat()}", T0)
        start_run(crm, run)
        with pytest.raises(ChangeFeedBroken, match=breakage.split()[-1]):
            snapshot_leads(crm, run)
    finally:
        with crm.begin() as c:
            c.execute(text("ALTER TABLE leads ENABLE ALWAYS TRIGGER leads_record_inserts"))
            c.execute(text("ALTER TABLE leads ENABLE ALWAYS TRIGGER leads_record_updates"))


@pytest.mark.parametrize("changed", [6, 90], ids=["a few changes: probed by key", "many changes: hashed"])
def test_changed_leads_are_staged_alike_whether_probed_by_key_or_hashed(crm, changed):
    """snapshot.py stages a steady hour's few changes by key probes and many by hash joins: same rows."""
    for lead in range(101, 401):
        add_lead(crm, lead, 2, score=40, stage="new", last_activity_at=hours(-5))
    cid = score_campaign(crm)
    sweep(crm, T0)
    with crm.begin() as c:  # statistics as a long-running database has them
        c.exec_driver_sql("ANALYZE leads")
        c.exec_driver_sql("ANALYZE lead_snapshots")
        assert few_rows_of(c, "leads", changed) is (changed == 6)
    movers = list(range(101, 101 + changed))
    for lead in movers[: changed // 3]:
        update_lead(crm, lead, stage="contacted")
    for lead in movers[changed // 3:]:
        update_lead(crm, lead, score=lead % 7 + 41)
    update_lead(crm, 400, full_name="Otra Persona")           # written, but nothing read changed
    update_lead(crm, 3, score=99)                            # broker 1: a lead the campaign now matches
    run = RunContext(f"scheduled__{hours(1).isoformat()}", hours(1))
    start_run(crm, run)
    counts = snapshot_leads(crm, run)
    with crm.connect() as c:
        staged = {r.lead_id: r for r in c.execute(text(
            "SELECT lead_id, stage, prev_stage, score, is_new, snapshot_exists FROM run_leads WHERE run_id = :r"),
            {"r": run.run_id})}
    assert sorted(staged) == sorted(movers + [3])
    assert counts["leads_staged"] == changed + 1 and counts["lead_changes_read"] == changed + 2
    assert all(r.prev_stage == "new" and not r.is_new and r.snapshot_exists for r in staged.values())
    assert {lead for lead, r in staged.items() if r.stage == "contacted"} == set(movers[: changed // 3])
    assert staged[3].score == 99
    counts.update(evaluate_triggers(crm, run))
    counts.update(enrol_leads(crm, run))
    assert (cid, 3) in enrolled(crm)
    with crm.connect() as c:
        snapshots = dict(c.execute(text("SELECT lead_id, score FROM lead_snapshots WHERE lead_id = ANY(:ids)"),
                                   {"ids": movers}).all())
    assert snapshots == {lead: (40 if lead in movers[: changed // 3] else lead % 7 + 41) for lead in movers}
